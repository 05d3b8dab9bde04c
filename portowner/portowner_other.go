//go:build !linux && !windows

package portowner

func listeners(port int) ([]Owner, error) { return nil, ErrUnsupported }
