package main

// The tables of the attachment benchmark.

import (
	"fmt"
	"github.com/keyward/keyward/bench/internal/report"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"
)

// printAttachments prints the result table, the same ops without an output
// file, then the spread and CPU time of every op.
func printAttachments(w *work, rounds int, res map[string][]sample) {
	where := w.dir
	if _, fsType, err := statDir(w.dir); err == nil && fsType == tmpfsMagic {
		where += " (tmpfs)"
	}
	mb := float64(w.size) / 1e6
	fmt.Printf("\n## Attachments: %s random file, keyward versus age %s\n\n", sizeString(w.size), ageVersion(w.age))
	outputs := "every encrypting op first removes its output of the previous round (lib-put: the attachment), so each writes a new file"
	if w.keepOutputs {
		outputs = "-keep-outputs: each encrypting op overwrites its output of the previous round (age and keyward's stream truncate it, lib-put replaces the attachment)"
	}
	fmt.Printf("Files in %s. Every op is a child process, %d rounds, interleaved (order rotated each round; "+
		"%s; before every op that writes a file, a scratch file of the same size is written and deleted, so that all start alike). "+
		"MB/s: 10^6 plaintext bytes per second of the child's wall time, median over the rounds. "+
		"Ratio to age: median over the rounds of age's wall time / keyward's, same direction, same round. "+
		"Peak RSS: largest ru_maxrss of the child over the rounds; it cannot be below kwbench's own peak RSS, %.1f MiB (see measure in attachments.go). "+
		"Every decrypted output matched the input's SHA-256.\n\n",
		where, rounds, outputs, float64(selfHWMKiB())/1024)
	fmt.Println("| op | MB/s | ratio to age | peak RSS MiB | goal | met? |")
	fmt.Println("|---|---:|---:|---:|---|---|")
	for _, op := range attOps {
		if op.discard {
			continue
		}
		rate, ratio, rss := summary(op, res, mb)
		if op.age {
			fmt.Printf("| %s | %.0f | 1.00× | %.1f | reference | — |\n", op.label, rate, rss)
			continue
		}
		var missed []string
		if ratio < attThroughputGoal {
			missed = append(missed, "throughput")
		}
		if rss >= attRSSGoalMiB {
			missed = append(missed, "RSS")
		}
		met := report.YesNo(true)
		if len(missed) > 0 {
			met = report.YesNo(false) + " (" + strings.Join(missed, ", ") + ")"
		}
		fmt.Printf("| %s | %.0f | %.2f× | %.1f | ≥ %.1f× age, < %.0f MiB | %s |\n",
			op.label, rate, ratio, rss, attThroughputGoal, attRSSGoalMiB, met)
	}
	fmt.Printf("\nThe same work with the output written to /dev/null (not verified, no goal): what the tools cost without " +
		"the kernel's write path into the page cache.\n\n")
	fmt.Println("| op | MB/s | ratio to age | peak RSS MiB |")
	fmt.Println("|---|---:|---:|---:|")
	for _, op := range attOps {
		if op.discard {
			rate, ratio, rss := summary(op, res, mb)
			fmt.Printf("| %s | %.0f | %.2f× | %.1f |\n", op.label, rate, ratio, rss)
		}
	}
	fmt.Printf("\nSpread and CPU time. Most of the system time of the file→file ops is the kernel copying the output " +
		"into newly allocated page-cache pages. Where the host backs guest memory lazily, that cost changes a lot from run " +
		"to run, for every tool alike, and only ever adds time, so the best round is shown too.\n\n")
	fmt.Println("| op | wall MB/s min–max | best-round ratio to age | user CPU s | system CPU s |")
	fmt.Println("|---|---|---:|---:|---:|")
	for _, op := range attOps {
		ss := res[op.id]
		walls := rates(ss, mb, wallOf)
		ratio := "1.00×"
		if !op.age {
			ratio = fmt.Sprintf("%.2f×", slices.Max(walls)/slices.Max(rates(res[op.ref], mb, wallOf)))
		}
		fmt.Printf("| %s | %.0f–%.0f | %s | %.2f | %.2f |\n", op.label, slices.Min(walls), slices.Max(walls), ratio,
			report.Median(durs(ss, userOf)), report.Median(durs(ss, sysOf)))
	}
}

// summary returns the median MB/s of op, its median ratio to its age
// reference (1 for age itself), and its peak RSS in MiB.
func summary(op attOp, res map[string][]sample, mb float64) (rate, ratio, rss float64) {
	ss := res[op.id]
	rate, ratio, rss = report.Median(rates(ss, mb, wallOf)), 1, peakMiB(ss)
	if !op.age {
		ratio = report.Median(pairRatios(res[op.ref], ss, wallOf))
	}
	return rate, ratio, rss
}

func wallOf(s sample) time.Duration { return s.wall }
func userOf(s sample) time.Duration { return s.user }
func sysOf(s sample) time.Duration  { return s.sys }

// rates returns mb divided by each sample's duration in seconds.
func rates(ss []sample, mb float64, d func(sample) time.Duration) []float64 {
	out := make([]float64, len(ss))
	for i, s := range ss {
		out[i] = mb / d(s).Seconds()
	}
	return out
}

// durs returns each sample's duration in seconds.
func durs(ss []sample, d func(sample) time.Duration) []float64 {
	out := make([]float64, len(ss))
	for i, s := range ss {
		out[i] = d(s).Seconds()
	}
	return out
}

// pairRatios returns ref/op of the durations of each round: how many times
// faster op was than its reference in that round.
func pairRatios(ref, op []sample, d func(sample) time.Duration) []float64 {
	n := min(len(ref), len(op))
	out := make([]float64, n)
	for i := range n {
		out[i] = d(ref[i]).Seconds() / d(op[i]).Seconds()
	}
	return out
}

// peakMiB is the largest peak RSS of the samples, in MiB.
func peakMiB(ss []sample) float64 {
	var kib int64
	for _, s := range ss {
		kib = max(kib, s.rssKiB)
	}
	return float64(kib) / 1024
}

// sizeString renders a byte count the way -size takes it.
func sizeString(n int64) string {
	switch {
	case n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d B", n)
}

// ageVersion asks the age CLI for its version.
func ageVersion(age string) string {
	out, err := exec.Command(age, "--version").Output()
	if err != nil {
		return "(version unknown)"
	}
	return strings.TrimSpace(string(out))
}

// selfHWMKiB returns kwbench's own peak RSS (VmHWM), or 0.
func selfHWMKiB() int64 {
	b, _ := os.ReadFile("/proc/self/status")
	for line := range strings.Lines(string(b)) {
		var kib int64
		if _, err := fmt.Sscanf(line, "VmHWM: %d kB", &kib); err == nil {
			return kib
		}
	}
	return 0
}
