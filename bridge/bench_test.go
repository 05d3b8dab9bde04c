package bridge

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailbridge/mailbridge/internal/smtpsink"
)

// BenchmarkDrain measures Pickup -> smart host for b.N 10 KB files renamed
// into Pickup at once (the go-smtp sink shares the CPU; bench/drain.sh
// measures against postfix's smtp-sink).
func BenchmarkDrain(b *testing.B) {
	sink := smtpsink.Start(b, smtpsink.Hooks{})
	d := b.TempDir()
	l := testLayoutIn(d)
	stage := filepath.Join(d, "stage")
	os.MkdirAll(stage, 0o755)
	body := strings.Repeat(strings.Repeat("x", 76)+"\r\n", 130)
	for i := 0; i < b.N; i++ {
		os.WriteFile(filepath.Join(stage, fmt.Sprintf("m%06d.eml", i)), []byte(fmt.Sprintf("From: a@x.test\r\nTo: b@y.test\r\nSubject: %d\r\n\r\n%s", i, body)), 0o644)
	}
	h := startB(b, l, baseConfig(sink))
	defer h.stop()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		n := fmt.Sprintf("m%06d.eml", i)
		os.Rename(filepath.Join(stage, n), filepath.Join(l.Pickup, n))
	}
	sink.WaitFor(b, wait*10, "all messages", count(b.N))
}
