package localproxy

import (
	"bytes"
	"errors"
	"fmt"
)

// The relay does not decode RESP into values: it forwards raw bytes and only
// needs to know where each client command and each server reply ends (to
// count what is in flight) and the first two arguments of each command (to
// see AUTH, SELECT, MULTI, SUBSCRIBE, ...). The two scanners below do that
// as streaming state machines: they accept input in arbitrary chunks, keep
// no copy of it, skip bulk payloads by length without looking at them, and
// allocate nothing once warm. A big value thus flows through the proxy in
// 64 KiB pieces instead of being buffered whole, as redcon's reader would.

// maxInline bounds an inline (telnet-style) command, as Redis does.
const maxInline = 64 * 1024

// maxBulk bounds a bulk length, as Redis' proto-max-bulk-len default does.
const maxBulk = 512 * 1024 * 1024

// maxArgKeep is how many bytes of an argument the command scanner keeps:
// enough for every command name and a SELECT index.
const maxArgKeep = 24

// errProtocol is returned for input that is not RESP.
var errProtocol = errors.New("protocol error")

func protoErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errProtocol}, args...)...)
}

type scanState uint8

const (
	stType   scanState = iota // expecting a type byte
	stNum                     // reading the number of a '$' or '*' header
	stNumLF                   // expecting '\n' after a number
	stLine                    // skipping a simple line up to '\n'
	stBulk                    // skipping bulk payload plus CRLF
	stInline                  // reading an inline command up to '\n'
	stCR                      // expecting '\r' after a bulk argument
	stLF                      // expecting '\n' after a bulk argument
)

// replyScanner counts complete top-level replies in a stream of RESP2 or
// RESP3 server output. RESP3 push frames (">") and attributes ("|") are
// not replies to a command and are not counted.
type replyScanner struct {
	st      scanState
	noCount bool  // the top-level frame being read is a push or attribute
	kind    byte  // type byte of the header being read
	pairs   bool  // the aggregate being read has 2n elements (map, attribute)
	neg     bool  // number is negative
	digits  int   // digits read so far
	num     int64 // number being read
	skip    int64 // bulk bytes (payload and CRLF) still to skip
	stack   []int64
}

// midReply reports whether the scanner stopped inside a reply.
func (s *replyScanner) midReply() bool { return s.st != stType || len(s.stack) > 0 }

// feed scans b and returns how many replies were completed in it.
func (s *replyScanner) feed(b []byte) (int, error) {
	_, n, err := s.scan(b, -1)
	return n, err
}

// scan scans b until max replies are complete (max < 0: all of b) and
// returns how many bytes it consumed and how many replies it completed.
func (s *replyScanner) scan(b []byte, max int) (int, int, error) {
	if max == 0 {
		return 0, 0, nil
	}
	n := 0
	i := 0
	for i < len(b) {
		switch s.st {
		case stType:
			c := b[i]
			i++
			if len(s.stack) == 0 {
				s.noCount = c == '>' || c == '|'
			}
			switch c {
			case '+', '-', ':', '_', ',', '#', '(':
				s.st = stLine
			case '$', '!', '=':
				s.kind, s.st, s.neg, s.digits, s.num = '$', stNum, false, 0, 0
			case '*', '~', '>', '%', '|':
				s.kind, s.st, s.neg, s.digits, s.num = '*', stNum, false, 0, 0
				s.pairs = c == '%' || c == '|'
			default:
				return i, n, protoErr("unexpected reply type byte %q", c)
			}
		case stLine:
			j := bytes.IndexByte(b[i:], '\n')
			if j < 0 {
				i = len(b)
				continue
			}
			i += j + 1
			s.st = stType
			if n += s.elemDone(); n == max {
				return i, n, nil
			}
		case stNum:
			c := b[i]
			i++
			if err := s.numByte(c); err != nil {
				return i, n, err
			}
		case stNumLF:
			if b[i] != '\n' {
				return i, n, protoErr("expected LF after length")
			}
			i++
			if n += s.header(); n == max {
				return i, n, nil
			}
		case stBulk:
			rest := int64(len(b) - i)
			if rest < s.skip {
				s.skip -= rest
				i = len(b)
				continue
			}
			i += int(s.skip)
			s.skip = 0
			s.st = stType
			if n += s.elemDone(); n == max {
				return i, n, nil
			}
		}
	}
	return i, n, nil
}

// numByte consumes one byte of a length header.
func (s *replyScanner) numByte(c byte) error {
	switch {
	case c >= '0' && c <= '9':
		s.num = s.num*10 + int64(c-'0')
		s.digits++
		if s.num > maxBulk {
			return protoErr("length too large")
		}
	case c == '-' && s.digits == 0 && !s.neg:
		s.neg = true
	case c == '\r' && s.digits > 0:
		s.st = stNumLF
	default:
		return protoErr("invalid length byte %q", c)
	}
	return nil
}

// header acts on a complete '$' or '*' header and returns 1 if that
// completed a top-level reply.
func (s *replyScanner) header() int {
	num := s.num
	if s.neg {
		num = -num
	}
	s.st = stType
	if s.kind == '$' {
		if num < 0 {
			return s.elemDone()
		}
		s.skip, s.st = num+2, stBulk
		return 0
	}
	if num <= 0 {
		return s.elemDone()
	}
	if s.pairs {
		num *= 2
	}
	s.stack = append(s.stack, num)
	return 0
}

// elemDone records the end of one element and returns 1 if it ended a
// top-level reply.
func (s *replyScanner) elemDone() int {
	for len(s.stack) > 0 {
		top := len(s.stack) - 1
		s.stack[top]--
		if s.stack[top] > 0 {
			return 0
		}
		s.stack = s.stack[:top]
	}
	if s.noCount {
		s.noCount = false
		return 0
	}
	return 1
}

// cmdScanner splits a stream of client input into commands, multibulk
// ("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n") or inline ("GET k\r\n"), and keeps
// the first bytes of the first two arguments of the current command.
type cmdScanner struct {
	st       scanState
	neg      bool
	digits   int
	num      int64
	skip     int64 // bulk payload bytes still to pass
	args     int64 // arguments of the current multibulk still to come
	argIdx   int   // index of the argument being read
	inCmd    bool  // inside a command (some of it was seen)
	inHeader bool  // reading the '*' header rather than a '$' one
	keepLen  int64 // payload bytes of the current argument to keep
	arg      [2][maxArgKeep]byte
	argLen   [2]int
	nargs    int  // arguments seen in the current command
	isInline bool // the current command is an inline one
	inline   []byte
}

// midCommand reports whether the scanner stopped inside a command.
func (s *cmdScanner) midCommand() bool { return s.inCmd }

// name returns the first argument (the command name), truncated to
// maxArgKeep bytes. It is valid until the next call of next.
func (s *cmdScanner) name() []byte { return s.arg[0][:s.argLen[0]] }

// arg1 returns the second argument, truncated, or nil.
func (s *cmdScanner) arg1() []byte {
	if s.nargs < 2 {
		return nil
	}
	return s.arg[1][:s.argLen[1]]
}

// next scans b until the end of one command or of b. It returns the bytes
// consumed and whether a command (with at least one argument) ended there.
// Empty inline lines and empty multibulks, which Redis ignores without a
// reply, do not count as commands.
func (s *cmdScanner) next(b []byte) (int, bool, error) {
	i := 0
	for i < len(b) {
		switch s.st {
		case stType:
			c := b[i]
			if !s.inCmd {
				s.nargs, s.argLen = 0, [2]int{}
				if c != '*' {
					s.st, s.inCmd, s.inline, s.isInline = stInline, true, s.inline[:0], true
					continue
				}
				i++
				s.inCmd, s.inHeader, s.isInline = true, true, false
				s.st, s.neg, s.digits, s.num = stNum, false, 0, 0
				continue
			}
			i++
			if c != '$' {
				return i, false, protoErr("expected '$', got %q", c)
			}
			s.inHeader = false
			s.st, s.neg, s.digits, s.num = stNum, false, 0, 0
		case stNum:
			c := b[i]
			i++
			switch {
			case c >= '0' && c <= '9':
				s.num = s.num*10 + int64(c-'0')
				s.digits++
				if s.num > maxBulk {
					return i, false, protoErr("invalid bulk length")
				}
			case c == '-' && s.digits == 0 && !s.neg && s.inHeader:
				s.neg = true
			case c == '\r' && s.digits > 0:
				s.st = stNumLF
			default:
				return i, false, protoErr("invalid length byte %q", c)
			}
		case stNumLF:
			if b[i] != '\n' {
				return i, false, protoErr("expected LF after length")
			}
			i++
			s.st = stType
			if s.inHeader {
				if s.neg || s.num == 0 {
					s.inCmd = false // ignored by Redis, no reply
					continue
				}
				if s.num > 1024*1024 {
					return i, false, protoErr("invalid multibulk length")
				}
				s.args, s.argIdx = s.num, 0
				continue
			}
			s.keepLen = 0
			if s.argIdx < 2 {
				s.keepLen = min(s.num, maxArgKeep)
				s.argLen[s.argIdx] = 0
			}
			s.skip, s.st = s.num, stBulk
		case stBulk:
			// Copy the kept prefix of the argument, then skip the rest.
			if s.keepLen > 0 {
				a := s.argIdx
				k := min(int64(len(b)-i), s.keepLen)
				s.argLen[a] += copy(s.arg[a][s.argLen[a]:], b[i:i+int(k)])
				s.keepLen -= k
			}
			rest := int64(len(b) - i)
			if rest < s.skip {
				s.skip -= rest
				i = len(b)
				continue
			}
			i += int(s.skip)
			s.skip, s.st = 0, stCR
		case stCR, stLF:
			want := byte('\r')
			if s.st == stLF {
				want = '\n'
			}
			if b[i] != want {
				return i + 1, false, protoErr("bulk argument not terminated by CRLF")
			}
			i++
			if s.st == stCR {
				s.st = stLF
				continue
			}
			s.st = stType
			s.nargs++
			s.argIdx++
			s.args--
			if s.args == 0 {
				s.inCmd = false
				return i, true, nil
			}
		case stInline:
			j := bytes.IndexByte(b[i:], '\n')
			if j < 0 {
				if len(s.inline)+len(b)-i > maxInline {
					return len(b), false, protoErr("too big inline request")
				}
				s.inline = append(s.inline, b[i:]...)
				i = len(b)
				continue
			}
			if len(s.inline)+j > maxInline {
				return i + j + 1, false, protoErr("too big inline request")
			}
			s.inline = append(s.inline, b[i:i+j]...)
			i += j + 1
			s.st, s.inCmd = stType, false
			if s.splitInline() {
				return i, true, nil
			}
		}
	}
	return i, false, nil
}

// splitInline fills the kept arguments from an inline line and reports
// whether it holds a command. Quotes are not interpreted: the name and a
// SELECT index never need them.
func (s *cmdScanner) splitInline() bool {
	line := bytes.TrimSuffix(s.inline, []byte{'\r'})
	for len(line) > 0 {
		line = bytes.TrimLeft(line, " \t")
		if len(line) == 0 {
			break
		}
		end := bytes.IndexAny(line, " \t")
		if end < 0 {
			end = len(line)
		}
		if s.nargs < 2 {
			s.argLen[s.nargs] = copy(s.arg[s.nargs][:], line[:end])
		}
		s.nargs++
		line = line[end:]
	}
	return s.nargs > 0
}
