package kwtest

import (
	"io"
	"runtime"
	"sync"
	"time"
)

// Zeros returns a reader of n zero bytes, made as they are read, so that a
// test streaming a large body holds none of it in memory.
func Zeros(n int64) io.Reader { return &zeros{n: n} }

type zeros struct{ n int64 }

func (z *zeros) Read(p []byte) (int, error) {
	if z.n <= 0 {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), z.n)]
	clear(p)
	z.n -= int64(len(p))
	return len(p), nil
}

// PeakHeapGrowth runs f and returns how far the heap in use
// (runtime.MemStats.HeapInuse) rose above its level before f, sampled
// every millisecond while f runs.
func PeakHeapGrowth(f func()) int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	base := m.HeapInuse
	peak := base
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapInuse)
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
		}
	})
	f()
	close(stop)
	wg.Wait()
	return int64(peak) - int64(base)
}
