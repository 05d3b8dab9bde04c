package bridge

import (
	"context"
	"sync"
	"testing"
	"time"
)

func TestTimeQueueOrderAndBusy(t *testing.T) {
	q := newTimeQueue()
	ctx := context.Background()
	now := time.Now()
	q.Push("b", now.Add(-time.Second))
	q.Push("a", now.Add(-2*time.Second))
	q.Push("c", now.Add(time.Hour))
	q.Push("b", now.Add(-3*time.Second)) // earlier wins
	for _, want := range []string{"b", "a"} {
		if k, ok := q.Pop(ctx, time.Second); !ok || k != want {
			t.Fatalf("Pop = %q %v, want %q", k, ok, want)
		}
	}
	// "c" is not due: Pop gives up after idle.
	if k, ok := q.Pop(ctx, 20*time.Millisecond); ok {
		t.Fatalf("Pop = %q before it was due", k)
	}
	// A Push for a busy key waits for Done, and is not lost.
	q.Push("b", now)
	if k, ok := q.Pop(ctx, 20*time.Millisecond); ok {
		t.Fatalf("busy key %q handed out twice", k)
	}
	q.Done("b", time.Time{})
	if k, ok := q.Pop(ctx, time.Second); !ok || k != "b" {
		t.Fatalf("Pop = %q %v after Done, want b", k, ok)
	}
	q.Done("b", time.Time{})
	q.Done("a", time.Time{})
	if n := q.Len(); n != 1 {
		t.Fatalf("Len = %d, want 1 (c)", n)
	}
	// A cancelled context ends Pop even with work due.
	q.Push("d", now)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, ok := q.Pop(cctx, 0); ok {
		t.Fatal("Pop after cancel")
	}
}

// Many workers, many keys: every key is handed out exactly once.
func TestTimeQueueWorkers(t *testing.T) {
	q := newTimeQueue()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	got := map[string]int{}
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k, ok := q.Pop(ctx, 200*time.Millisecond)
				if !ok {
					return
				}
				mu.Lock()
				got[k]++
				mu.Unlock()
				q.Done(k, time.Time{})
			}
		}()
	}
	for i := 0; i < 1000; i++ {
		q.Push(string(rune('A'+i%26))+time.Duration(i).String(), time.Now())
	}
	wg.Wait()
	if len(got) != 1000 {
		t.Fatalf("%d keys handed out, want 1000", len(got))
	}
	for k, n := range got {
		if n != 1 {
			t.Fatalf("%s handed out %d times", k, n)
		}
	}
}
