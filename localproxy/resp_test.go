package localproxy

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/tidwall/redcon"
)

// feedReplies feeds in to a fresh replyScanner in chunks of size step and
// returns the reply count.
func feedReplies(in []byte, step int) (int, bool, error) {
	var s replyScanner
	total := 0
	for i := 0; i < len(in); i += step {
		n, err := s.feed(in[i:min(i+step, len(in))])
		total += n
		if err != nil {
			return total, s.midReply(), err
		}
	}
	return total, s.midReply(), nil
}

func TestReplyScanner(t *testing.T) {
	tests := []struct {
		in      string
		replies int
		mid     bool
		wantErr bool
	}{
		{"+OK\r\n", 1, false, false},
		{"-ERR wrong\r\n:12\r\n", 2, false, false},
		{"$3\r\nfoo\r\n", 1, false, false},
		{"$-1\r\n", 1, false, false},
		{"$0\r\n\r\n", 1, false, false},
		{"*-1\r\n*0\r\n", 2, false, false},
		{"*2\r\n$1\r\na\r\n*2\r\n:1\r\n+x\r\n", 1, false, false},
		{"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$5\r\nhello\r\n", 1, false, false},
		{"$10\r\nabc", 0, true, false},
		{"*2\r\n+a\r\n", 0, true, false},
		{"+OK", 0, true, false},
		{"$3\r\nabcd\r\n", 1, false, true}, // framing follows the length: the rest is garbage
		{"%2\r\n+a\r\n:1\r\n$1\r\nb\r\n_\r\n", 1, false, false},
		{">3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nm\r\n:5\r\n", 1, false, false},
		{"|1\r\n+key\r\n+val\r\n,3.14\r\n", 1, false, false},
		{"~2\r\n#t\r\n(123\r\n=7\r\ntxt:abc\r\n!3\r\nerr\r\n", 3, false, false},
		{"%2\r\n+a\r\n", 0, true, false},
		{"&2\r\n", 0, false, true},
		{"$x\r\n", 0, false, true},
		{"$\r\n", 0, false, true},
		{"$99999999999\r\n", 0, false, true},
	}
	for _, tt := range tests {
		for _, step := range []int{1, 2, 3, 7, len(tt.in)} {
			n, mid, err := feedReplies([]byte(tt.in), step)
			if (err != nil) != tt.wantErr {
				t.Fatalf("%q step %d: err = %v, want error %v", tt.in, step, err, tt.wantErr)
			}
			if tt.wantErr {
				continue
			}
			if n != tt.replies || mid != tt.mid {
				t.Errorf("%q step %d: replies %d mid %v, want %d %v", tt.in, step, n, mid, tt.replies, tt.mid)
			}
		}
	}
}

type scannedCmd struct{ name, arg1 string }

// scanCommands feeds in to a fresh cmdScanner in chunks of size step.
func scanCommands(in []byte, step int) ([]scannedCmd, bool, error) {
	var s cmdScanner
	var out []scannedCmd
	for i := 0; i < len(in); i += step {
		chunk := in[i:min(i+step, len(in))]
		for len(chunk) > 0 {
			k, done, err := s.next(chunk)
			chunk = chunk[k:]
			if err != nil {
				return out, s.midCommand(), err
			}
			if done {
				out = append(out, scannedCmd{string(s.name()), string(s.arg1())})
			}
		}
	}
	return out, s.midCommand(), nil
}

func TestCmdScanner(t *testing.T) {
	tests := []struct {
		in      string
		want    []scannedCmd
		mid     bool
		wantErr string
	}{
		{"*1\r\n$4\r\nPING\r\n", []scannedCmd{{"PING", ""}}, false, ""},
		{"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*3\r\n$3\r\nset\r\n$1\r\nk\r\n$1\r\nv\r\n",
			[]scannedCmd{{"GET", "k"}, {"set", "k"}}, false, ""},
		{"*2\r\n$6\r\nSELECT\r\n$1\r\n3\r\n", []scannedCmd{{"SELECT", "3"}}, false, ""},
		{"PING\r\nset a b\n", []scannedCmd{{"PING", ""}, {"set", "a"}}, false, ""},
		{"\r\n\n*0\r\n*-1\r\n", nil, false, ""}, // ignored by redis, no reply
		{"*2\r\n$3\r\nGET\r\n$1\r\n", nil, true, ""},
		{"GET k", nil, true, ""},
		{"*1\r\n$30\r\n" + strings.Repeat("x", 30) + "\r\n", []scannedCmd{{strings.Repeat("x", maxArgKeep), ""}}, false, ""},
		{"*1\r\n+PING\r\n", nil, false, "expected '$'"},
		{"*1\r\n$4\r\nPINGxx", nil, false, "CRLF"},
		{"*x\r\n", nil, false, "invalid length"},
		{"*1\r\n$-1\r\n", nil, false, "invalid length"},
		{"*1\r\n$99999999999\r\n", nil, false, "invalid bulk length"},
		{"*9999999\r\n", nil, false, "invalid multibulk length"},
		{strings.Repeat("a", maxInline+10), nil, false, "too big inline"},
	}
	for _, tt := range tests {
		for _, step := range []int{1, 2, 5, len(tt.in)} {
			got, mid, err := scanCommands([]byte(tt.in), step)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("%.40q step %d: err = %v, want %q", tt.in, step, err, tt.wantErr)
				}
				continue
			}
			if err != nil {
				t.Fatalf("%.40q step %d: %v", tt.in, step, err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) || mid != tt.mid {
				t.Errorf("%.40q step %d: got %v mid %v, want %v %v", tt.in, step, got, mid, tt.want, tt.mid)
			}
		}
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name, arg1 string
		want       cmdKind
	}{
		{"get", "", cmdPlain}, {"AUTH", "x", cmdLocalOK}, {"auth", "", cmdLocalOK}, {"client", "setinfo", cmdLocalOK}, {"CLIENT", "maint_notifications", cmdRefused},
		{"select", "1", cmdSelect}, {"Multi", "", cmdMulti}, {"exec", "", cmdExec},
		{"discard", "", cmdExec}, {"watch", "k", cmdWatch}, {"unwatch", "", cmdUnwatch},
		{"reset", "", cmdReset}, {"subscribe", "c", cmdRaw}, {"PSUBSCRIBE", "c*", cmdRaw},
		{"ssubscribe", "c", cmdRaw}, {"monitor", "", cmdRaw}, {"hello", "3", cmdHello},
		{"client", "reply", cmdRaw}, {"CLIENT", "TRACKING", cmdRaw}, {"client", "setname", cmdPlain},
		{"quit", "", cmdQuit}, {"publish", "c", cmdPlain}, {"", "", cmdPlain},
	}
	for _, tt := range tests {
		if got := classify([]byte(tt.name), []byte(tt.arg1)); got != tt.want {
			t.Errorf("classify(%q, %q) = %d, want %d", tt.name, tt.arg1, got, tt.want)
		}
	}
}

// FuzzCmdScanner checks that the command scanner finds the same commands
// however its input is split, and that it agrees with redcon's parser on
// well-formed multibulk input built from the fuzz data.
func FuzzCmdScanner(f *testing.F) {
	f.Add([]byte("*2\r\n$3\r\nGET\r\n$1\r\nk\r\nPING\r\n"), 3)
	f.Add([]byte("set a b\r\n\r\n*0\r\n"), 1)
	f.Add([]byte("*1\r\n$4\r\nAUTH\r\n*2\r\n$6\r\nselect\r\n$1\r\n1\r\n"), 5)
	f.Fuzz(func(t *testing.T, in []byte, step int) {
		if step <= 0 || step > len(in) {
			step = len(in) + 1
		}
		whole, wmid, werr := scanCommands(in, len(in)+1)
		split, smid, serr := scanCommands(in, step)
		if (werr != nil) != (serr != nil) || fmt.Sprint(whole) != fmt.Sprint(split) || (werr == nil && wmid != smid) {
			t.Fatalf("whole: %v %v %v; split by %d: %v %v %v", whole, wmid, werr, step, split, smid, serr)
		}
		// Well-formed commands built from the input's words.
		words := bytes.Fields(in)
		if len(words) == 0 {
			return
		}
		var enc []byte
		var want []scannedCmd
		for i := 0; i < len(words); i += 3 {
			args := words[i:min(i+3, len(words))]
			enc = redcon.AppendArray(enc, len(args))
			for _, a := range args {
				enc = redcon.AppendBulk(enc, a)
			}
			c := scannedCmd{name: string(args[0][:min(len(args[0]), maxArgKeep)])}
			if len(args) > 1 {
				c.arg1 = string(args[1][:min(len(args[1]), maxArgKeep)])
			}
			want = append(want, c)
		}
		got, mid, err := scanCommands(enc, step)
		if err != nil || mid || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("encoded %q: got %v mid %v err %v, want %v", enc, got, mid, err, want)
		}
		// redcon's reader must see the same number of commands.
		n, rest := 0, enc
		for len(rest) > 0 {
			complete, args, _, left, rerr := redcon.ReadNextCommand(rest, nil)
			if rerr != nil || !complete {
				t.Fatalf("redcon cannot read %q: %v", rest, rerr)
			}
			if string(args[0][:min(len(args[0]), maxArgKeep)]) != want[n].name {
				t.Fatalf("redcon command %d is %q, want %q", n, args[0], want[n].name)
			}
			n, rest = n+1, left
		}
		if n != len(want) {
			t.Fatalf("redcon read %d commands, scanner %d", n, len(want))
		}
	})
}

// FuzzReplyScanner checks that reply counting does not depend on how the
// stream is split.
func FuzzReplyScanner(f *testing.F) {
	f.Add([]byte("+OK\r\n$3\r\nfoo\r\n*2\r\n:1\r\n$-1\r\n"), 2)
	f.Add([]byte("*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nm\r\n"), 1)
	f.Fuzz(func(t *testing.T, in []byte, step int) {
		if step <= 0 || step > len(in) {
			step = len(in) + 1
		}
		n1, mid1, err1 := feedReplies(in, len(in)+1)
		n2, mid2, err2 := feedReplies(in, step)
		if (err1 != nil) != (err2 != nil) || n1 != n2 || (err1 == nil && mid1 != mid2) {
			t.Fatalf("whole: %d %v %v; split by %d: %d %v %v", n1, mid1, err1, step, n2, mid2, err2)
		}
	})
}

func BenchmarkCmdScanner(b *testing.B) {
	var in []byte
	for i := 0; i < 16; i++ {
		in = append(in, "*3\r\n$3\r\nSET\r\n$16\r\nkey:000000000001\r\n$3\r\nxxx\r\n"...)
	}
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	var s cmdScanner
	for i := 0; i < b.N; i++ {
		rest := in
		for len(rest) > 0 {
			k, done, _ := s.next(rest)
			rest = rest[k:]
			if done {
				_ = classify(s.name(), s.arg1())
			}
		}
	}
}

func BenchmarkReplyScanner(b *testing.B) {
	var in []byte
	for i := 0; i < 16; i++ {
		in = append(in, "$3\r\nxxx\r\n"...)
	}
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	var s replyScanner
	for i := 0; i < b.N; i++ {
		_, _ = s.feed(in)
	}
}

func TestReplyScannerScanStopsAfterMax(t *testing.T) {
	in := "+OK\r\n$3\r\nabc\r\n*2\r\n:1\r\n$-1\r\n-ERR x\r\n"
	tests := []struct {
		max, consumed, n int
	}{
		{max: 1, consumed: len("+OK\r\n"), n: 1},
		{max: 2, consumed: len("+OK\r\n$3\r\nabc\r\n"), n: 2},
		{max: 3, consumed: len("+OK\r\n$3\r\nabc\r\n*2\r\n:1\r\n$-1\r\n"), n: 3},
		{max: 5, consumed: len(in), n: 4},
		{max: -1, consumed: len(in), n: 4},
		{max: 0, consumed: 0, n: 0},
	}
	for _, tt := range tests {
		// Whole, and one byte at a time: the stop must not depend on how
		// the stream is cut.
		var s replyScanner
		consumed, n, err := s.scan([]byte(in), tt.max)
		if err != nil || consumed != tt.consumed || n != tt.n {
			t.Errorf("scan(max %d) = %d bytes, %d replies, %v; want %d, %d", tt.max, consumed, n, err, tt.consumed, tt.n)
		}
		var b replyScanner
		consumed, n = 0, 0
		for i := 0; i < len(in) && (tt.max < 0 || n < tt.max); i++ {
			k, m, err := b.scan([]byte{in[i]}, tt.max-n)
			if err != nil {
				t.Fatal(err)
			}
			consumed, n = consumed+k, n+m
		}
		if tt.max != 0 && (consumed != tt.consumed || n != tt.n) {
			t.Errorf("byte by byte, max %d: %d bytes, %d replies; want %d, %d", tt.max, consumed, n, tt.consumed, tt.n)
		}
	}
}
