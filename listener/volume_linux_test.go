package listener

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/mailbridge/mailbridge/internal/testtool"
)

// While a mail root folder's volume is away, mail is refused at MAIL FROM,
// before the client sends it (found from outside: 451 only after DATA),
// and taken again once the volume is back.
func TestMailRefusedWhileVolumeAway(t *testing.T) {
	vol := filepath.Join(t.TempDir(), "vol")
	if err := os.Mkdir(vol, 0o777); err != nil {
		t.Fatal(err)
	}
	store := testtool.Tmpfs(t, "8m")
	testtool.BindMount(t, store, vol)
	ts := startServerIn(t, testConfig(), filepath.Join(vol, "mailroot"))
	testtool.Unmount(t, vol)
	if _, err := ts.root.Mend(); err == nil {
		t.Fatal("Mend saw nothing away")
	}
	c := dial(t, ts.addr)
	c.hello()
	c.expect("MAIL FROM:<a@example.com>", "451 4.3.0")

	testtool.BindMount(t, store, vol)
	if _, err := ts.root.Mend(); err != nil {
		t.Fatal(err)
	}
	c.expect("MAIL FROM:<a@example.com>", "250 ")
}
