//go:build !windows

package bridge

import (
	"fmt"
	"os/exec"
	"testing"

	"github.com/mailbridge/mailbridge/internal/testtool"
)

// pinFile makes path impossible to remove until unpin is called: chattr
// +i, as nothing else stops root here.
func pinFile(t *testing.T, path string) (unpin func(), err error) {
	chattr := testtool.Path(t, "chattr", "e2fsprogs")
	if out, err := exec.Command(chattr, "+i", path).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("chattr +i: %v %s", err, out)
	}
	return func() { exec.Command(chattr, "-i", path).Run() }, nil
}
