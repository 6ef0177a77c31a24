package loadgen

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-rt/switchboard/internal/selfusage"
)

// cpuTimes is user and system CPU time.
type cpuTimes struct{ user, sys time.Duration }

func (c cpuTimes) total() time.Duration { return c.user + c.sys }

func (c cpuTimes) sub(o cpuTimes) cpuTimes { return cpuTimes{c.user - o.user, c.sys - o.sys} }

// selfCPU is this process's CPU time so far (every thread).
func selfCPU() cpuTimes {
	user, sys := selfusage.CPU()
	return cpuTimes{user, sys}
}

// userHZ is the unit of utime and stime in /proc/PID/stat. It is fixed at
// 100 in the Linux user ABI on every architecture we run on, and reading
// sysconf(_SC_CLK_TCK) would need cgo.
const userHZ = 100

// procCPU reads a process's utime+stime from /proc/PID/stat.
func procCPU(pid int) (cpuTimes, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return cpuTimes{}, err
	}
	return parseProcStat(b)
}

// parseProcStat takes fields 14 and 15 (utime, stime) of /proc/PID/stat.
// The command name (field 2) may contain spaces and parentheses, so the
// fields are counted from the last ')'.
func parseProcStat(b []byte) (cpuTimes, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return cpuTimes{}, fmt.Errorf("/proc stat: no command field")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime is field 14 → f[11], stime f[12].
	if len(f) < 13 {
		return cpuTimes{}, fmt.Errorf("/proc stat: %d fields", len(f)+2)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return cpuTimes{}, fmt.Errorf("/proc stat: bad utime/stime %q %q", f[11], f[12])
	}
	tick := time.Second / userHZ
	return cpuTimes{time.Duration(ut) * tick, time.Duration(st) * tick}, nil
}

// procRSSKiB reads VmRSS from /proc/PID/status.
func procRSSKiB(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	return parseVmRSS(b)
}

func parseVmRSS(b []byte) (int64, error) {
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) == 0 {
				break
			}
			v, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("/proc status: VmRSS %q", rest)
			}
			if len(f) > 1 && f[1] != "kB" {
				return 0, fmt.Errorf("/proc status: VmRSS unit %q", f[1])
			}
			return v, nil
		}
	}
	return 0, fmt.Errorf("/proc status: no VmRSS line")
}

// minSocketsForRSS is the fewest sockets for which RSS growth is
// reported per socket.
const minSocketsForRSS = 100

// serverProbe samples a server process's CPU and RSS; a zero PID makes
// every call a no-op. Errors become the result's warnings: a server that
// exited during the run must not hide the rest of the figures.
type serverProbe struct {
	pid      int
	cpu0     cpuTimes
	rss0     int64
	rssAfter int64
	errs     []string
}

// startRSS records the server's RSS before the run opens its sockets.
func (p *serverProbe) startRSS() {
	if p.pid == 0 {
		return
	}
	var err error
	if p.rss0, err = procRSSKiB(p.pid); err != nil {
		p.errs = append(p.errs, "server rss: "+err.Error())
	}
}

// startCPU starts the server CPU measurement (after setup, so that
// per-message figures are not charged with the handshakes).
func (p *serverProbe) startCPU() {
	if p.pid == 0 {
		return
	}
	var err error
	if p.cpu0, err = procCPU(p.pid); err != nil {
		p.errs = append(p.errs, "server cpu: "+err.Error())
	}
}

// sampleRSS records the server's RSS now, typically once every socket is
// open. The largest sample is kept.
func (p *serverProbe) sampleRSS() {
	if p.pid == 0 {
		return
	}
	if v, err := procRSSKiB(p.pid); err == nil && v > p.rssAfter {
		p.rssAfter = v
	}
}

// finish fills the server part of a result: CPU per delivered message
// (msgs), per accepted publish (publishes) and RSS growth per socket
// (sockets); a zero divisor leaves that figure out.
func (p *serverProbe) finish(r *Result, msgs, publishes, sockets int64) {
	if p.pid == 0 {
		return
	}
	s := &ServerStats{PID: p.pid, RSSBeforeKiB: p.rss0}
	cpu1, err := procCPU(p.pid)
	if err != nil {
		p.errs = append(p.errs, "server cpu: "+err.Error())
	} else {
		d := cpu1.sub(p.cpu0)
		s.CPUUserS = round3(d.user.Seconds())
		s.CPUSysS = round3(d.sys.Seconds())
		s.CPUS = round3(d.total().Seconds())
		if msgs > 0 {
			s.CPUUSPerMsg = round3(float64(d.total().Microseconds()) / float64(msgs))
		}
		if publishes > 0 {
			s.CPUUSPerPublish = round3(float64(d.total().Microseconds()) / float64(publishes))
		}
	}
	s.RSSAfterKiB = p.rssAfter
	// Below 100 sockets the growth is mostly the server's own noise.
	if sockets >= minSocketsForRSS && p.rssAfter > 0 && p.rss0 > 0 {
		s.RSSKiBPerSocket = round3(float64(p.rssAfter-p.rss0) / float64(sockets))
	}
	r.Server = s
	r.Warnings = append(r.Warnings, p.errs...)
}
