package compat

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// IPSecList is a decoded IIS IPSECLIST value: the RelayIpList of the Relay
// Restrictions dialog and the IPSecurity of the Connection dialog.
//
// IIS keeps one of two modes. With grant entries the list means "only the
// list below" may connect or relay; without grant entries it means "all
// except the list below" (the deny entries). An absent or empty value is
// "only the list below" with nobody listed: the fresh-install RelayIpList.
type IPSecList struct {
	Grant      []netip.Prefix
	Deny       []netip.Prefix
	GrantNames []string // DNS names or *.domain patterns
	DenyNames  []string
}

// GrantByDefault reports the "all except the list below" mode.
func (l *IPSecList) GrantByDefault() bool {
	return len(l.Grant) == 0 && len(l.GrantNames) == 0
}

// DecodeIPSecList decodes the hex form MetaBase.xml writes for an IPSECLIST
// property. "" decodes to nil (no list).
//
// The binary layout assumed (IIS's ADDRESS_CHECK storage, the layout of the
// well-known 127.0.0.1 RelayIpList that scripts set through WMI), all
// little-endian DWORDs; a "ref" is an offset from the start of the blob with
// bit 31 set:
//
//	header:   ref denyAddr, ref grantAddr, ref denyName, ref grantName, flags, refSize
//	addr list at ref:  cEntries, cAddresses, then cEntries entries of
//	          family (2 = IPv4, 23 = IPv6), count (mask + addresses),
//	          fullMaskBytes, lastMaskByte, ref first
//	at first: the mask, then count-1 addresses sharing it (4 or 16 bytes each)
//	name list at ref:  cEntries, cNames, then cEntries entries of
//	          components, count, count refs to NUL-terminated names
func DecodeIPSecList(value string) (*IPSecList, error) {
	h := strings.Join(strings.Fields(value), "")
	if h == "" {
		return nil, nil
	}
	b, err := hex.DecodeString(h)
	if err != nil {
		return nil, errors.New("not hexadecimal")
	}
	if len(b) < 24 {
		return nil, fmt.Errorf("%d bytes is too short for the list header", len(b))
	}
	d := &blob{b: b}
	l := &IPSecList{}
	if l.Deny, err = d.addrs(d.u32(0)); err != nil {
		return nil, fmt.Errorf("deny list: %w", err)
	}
	if l.Grant, err = d.addrs(d.u32(4)); err != nil {
		return nil, fmt.Errorf("grant list: %w", err)
	}
	if l.DenyNames, err = d.names(d.u32(8)); err != nil {
		return nil, fmt.Errorf("deny names: %w", err)
	}
	if l.GrantNames, err = d.names(d.u32(12)); err != nil {
		return nil, fmt.Errorf("grant names: %w", err)
	}
	return l, nil
}

type blob struct{ b []byte }

func (d *blob) u32(off int) uint32 {
	if off < 0 || off+4 > len(d.b) {
		return 0
	}
	return binary.LittleEndian.Uint32(d.b[off:])
}

// at resolves a self-relative reference and checks that n bytes follow it.
func (d *blob) at(ref uint32, n int) (int, error) {
	off := int(ref &^ 0x80000000)
	if off < 0 || n < 0 || off > len(d.b) || len(d.b)-off < n {
		return 0, fmt.Errorf("reference 0x%08X points outside the %d-byte value", ref, len(d.b))
	}
	return off, nil
}

func (d *blob) addrs(ref uint32) ([]netip.Prefix, error) {
	off, err := d.at(ref, 8)
	if err != nil {
		return nil, err
	}
	entries := int(d.u32(off))
	if entries > (len(d.b)-off-8)/20 {
		return nil, fmt.Errorf("%d entries cannot fit", entries)
	}
	var out []netip.Prefix
	for i := 0; i < entries; i++ {
		e := off + 8 + 20*i
		family, count, first := d.u32(e), int(d.u32(e+4)), d.u32(e+16)
		size := 0
		switch family {
		case 2:
			size = 4
		case 23:
			size = 16
		default:
			return nil, fmt.Errorf("address family %d is not IPv4 (2) or IPv6 (23)", family)
		}
		if count < 1 || count > len(d.b)/size {
			return nil, fmt.Errorf("entry %d: %d addresses cannot fit", i+1, count)
		}
		a, err := d.at(first, count*size)
		if err != nil {
			return nil, fmt.Errorf("entry %d: %w", i+1, err)
		}
		mask := d.b[a : a+size]
		bits, ok := maskBits(mask)
		if !ok {
			return nil, fmt.Errorf("entry %d: mask % X is not contiguous", i+1, mask)
		}
		for j := 1; j < count; j++ {
			ip, _ := netip.AddrFromSlice(d.b[a+j*size : a+(j+1)*size])
			// IIS compares (client & mask) == (address & mask).
			p, _ := ip.Prefix(bits)
			out = append(out, p)
		}
	}
	return out, nil
}

func maskBits(mask []byte) (int, bool) {
	bits, zero := 0, false
	for i := 0; i < 8*len(mask); i++ {
		set := mask[i/8]&(0x80>>(i%8)) != 0
		switch {
		case set && zero:
			return 0, false
		case set:
			bits++
		default:
			zero = true
		}
	}
	return bits, true
}

func (d *blob) names(ref uint32) ([]string, error) {
	off, err := d.at(ref, 8)
	if err != nil {
		return nil, err
	}
	entries := int(d.u32(off))
	var out []string
	e := off + 8
	for i := 0; i < entries; i++ {
		if _, err := d.at(uint32(e), 8); err != nil {
			return nil, fmt.Errorf("entry %d: %w", i+1, err)
		}
		count := int(d.u32(e + 4))
		if count > (len(d.b)-e-8)/4 {
			return nil, fmt.Errorf("entry %d: %d names cannot fit", i+1, count)
		}
		for j := 0; j < count; j++ {
			n, err := d.at(d.u32(e+8+4*j), 1)
			if err != nil {
				return nil, fmt.Errorf("entry %d: %w", i+1, err)
			}
			end := n
			for end < len(d.b) && d.b[end] != 0 {
				end++
			}
			out = append(out, string(d.b[n:end]))
		}
		e += 8 + 4*count
	}
	return out, nil
}
