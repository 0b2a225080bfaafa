package main

// Pipelined variants of the stream operations. On this kind of machine
// most of a file→file run is the kernel's write path (page allocation and
// copy into the page cache or tmpfs), not the cipher: a sequential loop
// pays encrypt + write one after the other, while with two cores the
// writes of one buffer can run while the next is encrypted. streamEncrypt
// and streamDecrypt put an asyncWriter in front of the output file when
// asked to (the "-pipe" ops).

import (
	"io"
	"sync"
)

// Buffers of the asyncWriter: pipeBufs of copyBufSize bytes, so at most
// 4 MiB wait for the disk.
const pipeBufs = 4

// asyncWriter passes what is written to a goroutine that writes it to dst
// in copyBufSize blocks. Close flushes, waits, and returns the first error;
// after an error, Write fails too. It is not safe for concurrent use.
type asyncWriter struct {
	dst  io.Writer
	free chan []byte // empty buffers
	full chan []byte // buffers to write, in order
	done chan struct{}
	cur  []byte // being filled, or nil

	mu  sync.Mutex
	err error
}

func newAsyncWriter(dst io.Writer) *asyncWriter {
	a := &asyncWriter{dst: dst, free: make(chan []byte, pipeBufs), full: make(chan []byte, pipeBufs), done: make(chan struct{})}
	for range pipeBufs {
		a.free <- make([]byte, 0, copyBufSize)
	}
	go a.loop()
	return a
}

func (a *asyncWriter) loop() {
	defer close(a.done)
	for b := range a.full {
		if a.failed() == nil {
			if _, err := a.dst.Write(b); err != nil {
				a.mu.Lock()
				a.err = err
				a.mu.Unlock()
			}
		}
		a.free <- b[:0]
	}
}

func (a *asyncWriter) failed() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.err
}

// next returns the buffer to fill, sending the current one when it is full.
func (a *asyncWriter) next() []byte {
	if a.cur != nil && len(a.cur) == cap(a.cur) {
		a.full <- a.cur
		a.cur = nil
	}
	if a.cur == nil {
		a.cur = <-a.free
	}
	return a.cur
}

// Write copies p into the buffers.
func (a *asyncWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		if err := a.failed(); err != nil {
			return n, err
		}
		b := a.next()
		k := copy(b[len(b):cap(b)], p)
		a.cur = b[:len(b)+k]
		n += k
		p = p[k:]
	}
	return n, nil
}

// ReadFrom reads r straight into the buffers, so that io.Copy from a
// decrypting reader costs no extra copy.
func (a *asyncWriter) ReadFrom(r io.Reader) (int64, error) {
	var total int64
	for {
		if err := a.failed(); err != nil {
			return total, err
		}
		b := a.next()
		k, err := r.Read(b[len(b):cap(b)])
		a.cur = b[:len(b)+k]
		total += int64(k)
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// Close writes what is buffered and waits for the goroutine. It does not
// close dst.
func (a *asyncWriter) Close() error {
	if len(a.cur) > 0 {
		a.full <- a.cur
	}
	a.cur = nil
	close(a.full)
	<-a.done
	return a.failed()
}
