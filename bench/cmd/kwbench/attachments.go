package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/keyward/keyward/crypt"
)

// Goals of the attachment benchmark.
const (
	attThroughputGoal = 1.3       // × age's throughput, same direction
	attRSSGoalMiB     = 32.0      // peak RSS of the process
	tmpfsMagic        = 0x1021994 // statfs f_type of tmpfs
)

// attOp is one measured operation: a child process.
type attOp struct {
	id, label string
	age       bool   // the reference
	ref       string // id of the age op it is compared with
	args      func(w *work) []string
	out       string // output file in the work dir, checked after each run
	decrypt   bool   // out is plaintext: hashed, compared and removed
	discard   bool   // writes to /dev/null: the cost without an output file
	// reset, if set, names a child op and its arguments, run (untimed)
	// before each run to remove what the previous round stored (see
	// work.reset).
	reset func(w *work) (op string, args []string)
}

// attOps in table order. Encryptions run first in every round, since the
// decryptions read what they wrote.
var attOps = []attOp{
	{id: "kw-enc", label: "keyward stream encrypt, io.CopyBuffer (crypt.NewWriter, file→file)", ref: "age-enc", out: "kw.enc",
		args: func(w *work) []string { return w.self("stream-enc", w.key, w.in, w.path("kw.enc")) }},
	{id: "kw-enc-pipe", label: "keyward stream encrypt, writes in a goroutine", ref: "age-enc", out: "kwp.enc",
		args: func(w *work) []string { return w.self("stream-enc-pipe", w.key, w.in, w.path("kwp.enc")) }},
	{id: "kw-dec", label: "keyward stream decrypt, io.CopyBuffer (crypt.NewReader, file→file)", ref: "age-dec", out: "kw.dec", decrypt: true,
		args: func(w *work) []string { return w.self("stream-dec", w.key, w.path("kw.enc"), w.path("kw.dec")) }},
	{id: "kw-dec-pipe", label: "keyward stream decrypt, writes in a goroutine", ref: "age-dec", out: "kwp.dec", decrypt: true,
		args: func(w *work) []string { return w.self("stream-dec-pipe", w.key, w.path("kwp.enc"), w.path("kwp.dec")) }},
	{id: "lib-put", label: "keyward library PutAttachment (file→store: SQLite row + attachment file)", ref: "age-enc",
		args:  func(w *work) []string { return w.self("lib-put", w.path("lib"), w.in) },
		reset: func(w *work) (string, []string) { return "lib-rm", []string{w.path("lib")} }},
	{id: "lib-get", label: "keyward library OpenAttachment (store→file)", ref: "age-dec", out: "lib.dec", decrypt: true,
		args: func(w *work) []string { return w.self("lib-get", w.path("lib"), w.path("lib.dec")) }},
	{id: "age-enc", label: "age -e -r (X25519), file→file", age: true, out: "age.enc",
		args: func(w *work) []string { return []string{w.age, "-e", "-r", w.recipient, "-o", w.path("age.enc"), w.in} }},
	{id: "age-dec", label: "age -d -i, file→file", age: true, out: "age.dec", decrypt: true,
		args: func(w *work) []string {
			return []string{w.age, "-d", "-i", w.path("age-key.txt"), "-o", w.path("age.dec"), w.path("age.enc")}
		}},
	{id: "kw-enc-null", label: "keyward stream encrypt → /dev/null", ref: "age-enc-null", discard: true,
		args: func(w *work) []string { return w.self("stream-enc", w.key, w.in, os.DevNull) }},
	{id: "kw-dec-null", label: "keyward stream decrypt → /dev/null", ref: "age-dec-null", decrypt: true, discard: true,
		args: func(w *work) []string { return w.self("stream-dec", w.key, w.path("kw.enc"), os.DevNull) }},
	{id: "age-enc-null", label: "age -e → /dev/null", age: true, discard: true,
		args: func(w *work) []string { return []string{w.age, "-e", "-r", w.recipient, "-o", os.DevNull, w.in} }},
	{id: "age-dec-null", label: "age -d → /dev/null", age: true, decrypt: true, discard: true,
		args: func(w *work) []string {
			return []string{w.age, "-d", "-i", w.path("age-key.txt"), "-o", os.DevNull, w.path("age.enc")}
		}},
}

// work is the temporary directory of one run and what is in it.
type work struct {
	dir, in, key string
	exe, age     string
	recipient    string
	size         int64
	sum          string // SHA-256 of the input, in hex
	zero         []byte // written by condition
	keepOutputs  bool   // see reset
}

func (w *work) path(name string) string { return filepath.Join(w.dir, name) }

// self is the command line that runs a child operation of this binary.
func (w *work) self(op string, args ...string) []string {
	return append([]string{w.exe, childArg, op}, args...)
}

// sample is one measured run of an operation.
type sample struct {
	wall, user, sys time.Duration
	rssKiB          int64
}

// runAttachments measures every op of attOps in every round and prints the
// tables.
func runAttachments(rounds int, size int64, dir string, keepOutputs bool) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	w, err := prepare(ctx, size, dir)
	if w != nil {
		defer os.RemoveAll(w.dir)
	}
	if err != nil {
		return err
	}
	w.keepOutputs = keepOutputs
	res := map[string][]sample{}
	for r := range rounds {
		groups := [][]attOp{pick(false, false), pick(true, false), append(pick(false, true), pick(true, true)...)}
		for _, group := range groups {
			for i := range group {
				op := group[(i+r)%len(group)] // rotate the order every round
				s, err := w.measure(ctx, op)
				if err != nil {
					return fmt.Errorf("%s: %w", op.id, err)
				}
				fmt.Fprintf(os.Stderr, "kwbench: attachments round %d/%d %-12s wall %6.3fs user %5.2fs sys %5.2fs rss %5.1f MiB\n",
					r+1, rounds, op.id, s.wall.Seconds(), s.user.Seconds(), s.sys.Seconds(), float64(s.rssKiB)/1024)
				res[op.id] = append(res[op.id], s)
			}
		}
	}
	printAttachments(w, rounds, res)
	return nil
}

// pick returns the encrypting or the decrypting ops, with or without an
// output file. The ops that write to /dev/null run in a group of their own
// after the others, so that they do not change the memory state in which
// the file-writing ops start (see condition).
func pick(decrypt, discard bool) []attOp {
	var ops []attOp
	for _, op := range attOps {
		if op.decrypt == decrypt && op.discard == discard {
			ops = append(ops, op)
		}
	}
	return ops
}

// measure runs op once as a child process and checks its output.
//
// The peak RSS is the child's ru_maxrss. Go starts children with
// clone(CLONE_VM|CLONE_VFORK), and at exec Linux folds the high-water RSS
// of the address space being left, which is kwbench's own, into the new
// program's maxrss (exec_mmap, setmax_mm_hiwater_rss). So no child can show
// less than kwbench's own peak RSS: kwbench does its heavy set-up work in
// children too, and the report prints that floor.
func (w *work) measure(ctx context.Context, op attOp) (sample, error) {
	if err := w.reset(ctx, op); err != nil {
		return sample{}, err
	}
	if !op.discard {
		if err := w.condition(); err != nil {
			return sample{}, err
		}
	}
	syscall.Sync() // start every op with no dirty pages of the previous one
	args := op.args(w)
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		return sample{}, fmt.Errorf("%v: %s", err, stderr.Bytes())
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return sample{}, fmt.Errorf("no rusage for the child")
	}
	s := sample{wall: wall, user: cmd.ProcessState.UserTime(), sys: cmd.ProcessState.SystemTime(), rssKiB: ru.Maxrss}
	return s, w.check(ctx, op)
}

// reset removes, before an encrypting op runs, the output it left in the
// previous round (and lib-put's attachment, through its reset command).
// Otherwise each op would free the previous gigabyte inside its timed run,
// and not alike: age and keyward's stream truncate their output file
// before writing, so the freed pages are reused at once, while a
// replacing PutAttachment writes the new file before it unlinks the old
// one. Every op now writes its output into fresh space, as when a file is
// encrypted for the first time. keepOutputs (-keep-outputs) leaves the
// outputs of the file-writing ops in place, as before: then only lib-put's
// attachment is removed.
func (w *work) reset(ctx context.Context, op attOp) error {
	if op.decrypt || op.discard {
		return nil
	}
	if op.out != "" && !w.keepOutputs {
		if err := os.Remove(w.path(op.out)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	if op.reset != nil {
		child, args := op.reset(w)
		if _, err := w.prep(ctx, child, args...); err != nil {
			return err
		}
	}
	return nil
}

// condition writes and deletes a scratch file as large as the input, so
// that every op that writes a file starts in the same memory state: with
// that much page cache just freed. Without it, the cost of the kernel's
// page allocation for the output depended on what the previous op did
// (on a VM whose host reclaims free guest memory, pages freed a few
// seconds ago are slow to use again), which favoured some ops over others.
func (w *work) condition() error {
	f, err := os.Create(w.path("scratch"))
	if err != nil {
		return err
	}
	if w.zero == nil {
		w.zero = make([]byte, 64<<10) // small: kwbench's RSS is every child's floor
	}
	for n := w.size; n > 0 && err == nil; n -= int64(len(w.zero)) {
		_, err = f.Write(w.zero[:min(n, int64(len(w.zero)))])
	}
	return errors.Join(err, f.Close(), os.Remove(w.path("scratch")))
}

// check verifies what op wrote: a decrypted output must hash like the
// input (and is then removed); keyward's stream must have its exact size.
func (w *work) check(ctx context.Context, op attOp) error {
	if op.out == "" {
		return nil
	}
	p := w.path(op.out)
	if op.decrypt {
		defer os.Remove(p)
		sum, err := w.prep(ctx, "sha256", p)
		if err != nil {
			return err
		}
		if sum != w.sum {
			return fmt.Errorf("%s does not match the input", op.out)
		}
		return nil
	}
	st, err := os.Stat(p)
	if err != nil {
		return err
	}
	if !op.age && st.Size() != crypt.EncryptedSize(w.size) {
		return fmt.Errorf("%s is %d bytes, want %d", op.out, st.Size(), crypt.EncryptedSize(w.size))
	}
	return nil
}
