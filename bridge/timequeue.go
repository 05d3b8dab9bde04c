package bridge

import (
	"container/heap"
	"context"
	"sync"
	"time"
)

// timeQueue holds keys with the time each becomes due. Workers Pop due
// keys; a popped key is busy until Done, and a Push for a busy key is
// remembered and applied at Done, so that one key is never handled by two
// workers at once and no wake-up is lost.
type timeQueue struct {
	mu    sync.Mutex
	h     entryHeap
	byKey map[string]*entry
	busy  map[string]time.Time // busy keys -> due of a Push while busy (zero: none)
	wake  chan struct{}
}

type entry struct {
	key string
	due time.Time
	idx int
}

func newTimeQueue() *timeQueue {
	return &timeQueue{byKey: map[string]*entry{}, busy: map[string]time.Time{}, wake: make(chan struct{}, 1)}
}

// Push makes key due at due, or earlier if it is already queued earlier.
func (q *timeQueue) Push(key string, due time.Time) {
	q.mu.Lock()
	if d, ok := q.busy[key]; ok {
		if d.IsZero() || due.Before(d) {
			q.busy[key] = due
		}
		q.mu.Unlock()
		return
	}
	q.pushLocked(key, due)
	q.mu.Unlock()
	q.signal()
}

func (q *timeQueue) pushLocked(key string, due time.Time) {
	if e, ok := q.byKey[key]; ok {
		if due.Before(e.due) {
			e.due = due
			heap.Fix(&q.h, e.idx)
		}
		return
	}
	e := &entry{key: key, due: due}
	q.byKey[key] = e
	heap.Push(&q.h, e)
}

// Done ends the work on a popped key. If next is not zero the key is due
// again then (or earlier, if a Push came meanwhile); if next is zero the
// key is forgotten unless a Push came meanwhile.
func (q *timeQueue) Done(key string, next time.Time) {
	q.mu.Lock()
	d := q.busy[key]
	delete(q.busy, key)
	if !d.IsZero() && (next.IsZero() || d.Before(next)) {
		next = d
	}
	if !next.IsZero() {
		q.pushLocked(key, next)
	}
	q.mu.Unlock()
	if !next.IsZero() {
		q.signal()
	}
}

// Len counts queued and busy keys.
func (q *timeQueue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.h) + len(q.busy)
}

func (q *timeQueue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Pop returns the next due key and marks it busy. It waits until one is
// due, ctx is done, or idle passes (idle 0: no limit); ok is false in the
// last two cases.
func (q *timeQueue) Pop(ctx context.Context, idle time.Duration) (key string, ok bool) {
	var idleC <-chan time.Time
	if idle > 0 {
		t := time.NewTimer(idle)
		defer t.Stop()
		idleC = t.C
	}
	for {
		if ctx.Err() != nil {
			return "", false // stopping wins over due work
		}
		q.mu.Lock()
		var wait time.Duration = -1
		if len(q.h) > 0 {
			e := q.h[0]
			wait = time.Until(e.due)
			if wait <= 0 {
				heap.Pop(&q.h)
				delete(q.byKey, e.key)
				q.busy[e.key] = time.Time{}
				more := len(q.h) > 0 && !q.h[0].due.After(time.Now())
				q.mu.Unlock()
				if more {
					q.signal() // pass the wake-up on to another worker
				}
				return e.key, true
			}
		}
		q.mu.Unlock()
		var timer <-chan time.Time
		var t *time.Timer
		if wait > 0 {
			t = time.NewTimer(wait)
			timer = t.C
		}
		select {
		case <-ctx.Done():
			return "", false
		case <-idleC:
			return "", false
		case <-q.wake:
		case <-timer:
		}
		if t != nil {
			t.Stop()
		}
	}
}

type entryHeap []*entry

func (h entryHeap) Len() int           { return len(h) }
func (h entryHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h entryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i]; h[i].idx = i; h[j].idx = j }
func (h *entryHeap) Push(x any)        { e := x.(*entry); e.idx = len(*h); *h = append(*h, e) }
func (h *entryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}
