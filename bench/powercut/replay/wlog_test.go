package main

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const ss = 512

// logBuilder writes a made-up log in blklogwrites' format.
type logBuilder struct{ b []byte }

func newLog(declared uint64) *logBuilder {
	sb := make([]byte, ss)
	binary.LittleEndian.PutUint64(sb[0:], logMagic)
	binary.LittleEndian.PutUint64(sb[8:], 1)
	binary.LittleEndian.PutUint64(sb[16:], declared)
	binary.LittleEndian.PutUint32(sb[24:], ss)
	return &logBuilder{b: sb}
}

func (l *logBuilder) entry(sector, sectors, flags uint64, data []byte) *logBuilder {
	h := make([]byte, ss)
	binary.LittleEndian.PutUint64(h[0:], sector)
	binary.LittleEndian.PutUint64(h[8:], sectors)
	binary.LittleEndian.PutUint64(h[16:], flags)
	l.b = append(append(l.b, h...), data...)
	return l
}

func fill(sectors int, c byte) []byte { return bytes.Repeat([]byte{c}, sectors*ss) }

type want struct{ sector, sectors, flags uint64 }

func TestParseLog(t *testing.T) {
	tests := []struct {
		name    string
		log     []byte
		want    []want
		wantErr string
	}{
		{
			name: "writes, flush, FUA write, discard",
			log: newLog(4).entry(8, 2, 0, fill(2, 'a')).entry(0, 0, flagFlush, nil).
				entry(16, 1, flagFUA, fill(1, 'b')).entry(32, 8, flagDiscard, nil).b,
			want: []want{{8, 2, 0}, {0, 0, flagFlush}, {16, 1, flagFUA}, {32, 8, flagDiscard}},
		},
		{
			// QEMU updates the superblock's count now and then; entries
			// past it are real.
			name: "more entries than the superblock counts",
			log:  newLog(1).entry(8, 1, 0, fill(1, 'a')).entry(0, 0, flagFlush, nil).entry(9, 1, 0, fill(1, 'c')).b,
			want: []want{{8, 1, 0}, {0, 0, flagFlush}, {9, 1, 0}},
		},
		{
			name: "stops at a blank header",
			log:  append(newLog(1).entry(8, 1, 0, fill(1, 'a')).b, make([]byte, 3*ss)...),
			want: []want{{8, 1, 0}},
		},
		{
			name: "drops a write whose data was cut off",
			log:  newLog(2).entry(8, 1, 0, fill(1, 'a')).entry(9, 4, 0, fill(2, 'b')).b,
			want: []want{{8, 1, 0}},
		},
		{
			name: "stops at flags that cannot be",
			log:  newLog(2).entry(8, 1, 0, fill(1, 'a')).entry(9, 1, 1<<40, fill(1, 'b')).b,
			want: []want{{8, 1, 0}},
		},
		{name: "empty log", log: newLog(0).b},
		{name: "not a log", log: make([]byte, 4096), wantErr: "not a write log"},
		{name: "too short", log: []byte{1, 2, 3}, wantErr: "superblock"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := parseLog(bytes.NewReader(tt.log), int64(len(tt.log)))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []want
			for i, e := range l.entries {
				if e.index != i {
					t.Errorf("entry %d has index %d", i, e.index)
				}
				got = append(got, want{e.sector, e.sectors, e.flags})
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("entries %v, want %v", got, tt.want)
			}
		})
	}
}

func TestApply(t *testing.T) {
	raw := newLog(4).entry(1, 2, 0, fill(2, 'a')).entry(0, 0, flagFlush, nil).
		entry(2, 1, flagFUA, fill(1, 'b')).entry(0, 1, flagDiscard, nil).b
	l, err := parseLog(bytes.NewReader(raw), int64(len(raw)))
	if err != nil {
		t.Fatal(err)
	}
	img, err := os.Create(filepath.Join(t.TempDir(), "img"))
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	if _, err := img.Write(fill(4, 'z')); err != nil {
		t.Fatal(err)
	}
	var buf []byte
	for _, e := range l.entries {
		if buf, err = l.apply(img, bytes.NewReader(raw), e, buf); err != nil {
			t.Fatal(err)
		}
	}
	got := make([]byte, 4*ss)
	if _, err := img.ReadAt(got, 0); err != nil {
		t.Fatal(err)
	}
	wantImg := bytes.Join([][]byte{fill(1, 0), fill(1, 'a'), fill(1, 'b'), fill(1, 'z')}, nil)
	if !bytes.Equal(got, wantImg) {
		t.Error("image after the log differs from the writes it holds")
	}
}

func TestPoints(t *testing.T) {
	// W0 W1 F2 W3 F4 W5 W6 W7: epochs [0,2) [3,4) [5,8).
	es := []entry{{}, {}, {flags: flagFlush}, {}, {flags: flagFlush}, {}, {}, {}}
	for i := range es {
		es[i].index = i
	}
	eps := epochs(es)
	wantEps := []epoch{{0, 2, []int{0, 1}}, {3, 4, []int{3}}, {5, 8, []int{5, 6, 7}}}
	if !reflect.DeepEqual(eps, wantEps) {
		t.Fatalf("epochs %v, want %v", eps, wantEps)
	}
	if got := pickEven([]int{10, 20, 30, 40, 50}, 2); !reflect.DeepEqual(got, map[int]bool{10: true, 30: true, 50: true}) {
		t.Errorf("pickEven 2 of 5: %v", got)
	}
	if got := pickEven([]int{10, 20}, 0); len(got) != 2 {
		t.Errorf("pickEven all: %v", got)
	}
}
