package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// The write log is dm-log-writes' format, which QEMU's blklogwrites driver
// also writes: sector 0 holds a superblock, then each request is an entry
// header of one sector followed, for a write, by its data. Sizes and
// positions are in the log's sector size.
const (
	logMagic = 0x6a736677736872 // "rhswfsj"

	flagFlush   = 1
	flagFUA     = 2
	flagDiscard = 4
	flagMark    = 8
	knownFlags  = flagFlush | flagFUA | flagDiscard | flagMark | 16 // 16: metadata (dm)
)

// entry is one logged request.
type entry struct {
	index   int    // position in the log, from 0
	sector  uint64 // first sector on the disk
	sectors uint64 // length in sectors
	flags   uint64
	dataOff int64 // where its data starts in the log (writes only)
}

func (e entry) isFlush() bool { return e.flags&flagFlush != 0 }

// isWrite reports whether the entry changes the disk. A FUA write is a
// write here: virtio-blk has no FUA, and the guest's flush after it is
// logged as a FLUSH entry of its own.
func (e entry) isWrite() bool { return e.flags&(flagFlush|flagMark) == 0 }

type writeLog struct {
	sectorSize uint32
	declared   uint64 // entries the superblock counts; QEMU updates it only now and then
	entries    []entry
}

// parseLog reads the entries of a write log of size bytes. It stops at the
// first header that is blank or cannot be one, or whose data runs past the
// end: the superblock's count lags behind the entries QEMU appended, so
// the end is where the entries stop making sense, not where the count
// says.
func parseLog(r io.ReaderAt, size int64) (*writeLog, error) {
	sb := make([]byte, 28)
	if _, err := r.ReadAt(sb, 0); err != nil {
		return nil, fmt.Errorf("read log superblock: %w", err)
	}
	if m := binary.LittleEndian.Uint64(sb[0:]); m != logMagic {
		return nil, fmt.Errorf("not a write log: magic %#x", m)
	}
	l := &writeLog{
		declared:   binary.LittleEndian.Uint64(sb[16:]),
		sectorSize: binary.LittleEndian.Uint32(sb[24:]),
	}
	ss := int64(l.sectorSize)
	if ss < 512 || ss&(ss-1) != 0 {
		return nil, fmt.Errorf("write log sector size %d", ss)
	}
	h := make([]byte, 24)
	for off := ss; off+ss <= size; {
		if _, err := r.ReadAt(h, off); err != nil {
			return nil, fmt.Errorf("read log entry %d: %w", len(l.entries), err)
		}
		e := entry{
			index:   len(l.entries),
			sector:  binary.LittleEndian.Uint64(h[0:]),
			sectors: binary.LittleEndian.Uint64(h[8:]),
			flags:   binary.LittleEndian.Uint64(h[16:]),
		}
		if e.sectors == 0 && e.flags == 0 || e.flags&^knownFlags != 0 {
			break
		}
		off += ss
		e.dataOff = off
		if e.flags&(flagFlush|flagDiscard|flagMark) == 0 {
			off += int64(e.sectors) * ss
		}
		if off > size {
			break
		}
		l.entries = append(l.entries, e)
	}
	return l, nil
}

// apply makes the disk image img hold what entry e wrote, reading its data
// from the log. buf is reused between calls and returned.
func (l *writeLog) apply(img io.WriterAt, log io.ReaderAt, e entry, buf []byte) ([]byte, error) {
	if !e.isWrite() {
		return buf, nil
	}
	n := int(e.sectors) * int(l.sectorSize)
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if e.flags&flagDiscard != 0 {
		// A discarded range may read back as anything; zeros are what
		// the raw file image gives.
		clear(buf)
	} else if _, err := log.ReadAt(buf, e.dataOff); err != nil && !errors.Is(err, io.EOF) {
		return buf, fmt.Errorf("read data of log entry %d: %w", e.index, err)
	}
	if _, err := img.WriteAt(buf, int64(e.sector)*int64(l.sectorSize)); err != nil {
		return buf, fmt.Errorf("apply log entry %d: %w", e.index, err)
	}
	return buf, nil
}

// openLog parses the log at path and keeps it open for apply.
func openLog(path string) (*writeLog, *os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("open write log: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("stat write log: %w", err)
	}
	l, err := parseLog(f, st.Size())
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return l, f, nil
}
