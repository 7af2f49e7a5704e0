package marathon

import (
	"fmt"
	"strings"
)

// shellWords splits a Marathon `cmd` the way `/bin/sh -c` would for the
// simple command lines we ship: words separated by blanks, single and double
// quotes, backslash escapes, and $VAR / ${VAR} expansion from env. Anything
// a plain word split would get wrong is an error rather than a guess: shell
// operators, command substitution, unset variables, and unquoted glob
// characters (sh would expand `--role *` to the sandbox's file names).
func shellWords(line string, env map[string]string) ([]string, error) {
	var (
		words  []string
		cur    strings.Builder
		inWord bool
	)
	expand := func(i int) (string, int, error) {
		// line[i] == '$'
		j := i + 1
		var name string
		switch {
		case j < len(line) && line[j] == '{':
			end := strings.IndexByte(line[j:], '}')
			if end < 0 {
				return "", 0, fmt.Errorf("unterminated ${ at offset %d", i)
			}
			name = line[j+1 : j+end]
			j += end + 1
		case j < len(line) && line[j] == '(':
			return "", 0, fmt.Errorf("command substitution $( at offset %d is not supported", i)
		default:
			k := j
			for k < len(line) && (line[k] == '_' || line[k] >= 'a' && line[k] <= 'z' ||
				line[k] >= 'A' && line[k] <= 'Z' || line[k] >= '0' && line[k] <= '9') {
				k++
			}
			name = line[j:k]
			j = k
		}
		if name == "" {
			return "", 0, fmt.Errorf("bare $ at offset %d", i)
		}
		v, ok := env[name]
		if !ok {
			return "", 0, fmt.Errorf("variable $%s is not set in the task's environment", name)
		}
		return v, j, nil
	}
	for i := 0; i < len(line); {
		c := line[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
			i++
		case c == '\'':
			end := strings.IndexByte(line[i+1:], '\'')
			if end < 0 {
				return nil, fmt.Errorf("unterminated single quote at offset %d", i)
			}
			cur.WriteString(line[i+1 : i+1+end])
			inWord = true
			i += end + 2
		case c == '"':
			inWord = true
			i++
			for {
				if i >= len(line) {
					return nil, fmt.Errorf("unterminated double quote")
				}
				d := line[i]
				if d == '"' {
					i++
					break
				}
				switch d {
				case '\\':
					if i+1 < len(line) && strings.IndexByte("$`\"\\", line[i+1]) >= 0 {
						cur.WriteByte(line[i+1])
						i += 2
						continue
					}
					cur.WriteByte(d)
					i++
				case '$':
					v, next, err := expand(i)
					if err != nil {
						return nil, err
					}
					cur.WriteString(v)
					i = next
				case '`':
					return nil, fmt.Errorf("command substitution ` is not supported")
				default:
					cur.WriteByte(d)
					i++
				}
			}
		case c == '\\':
			if i+1 >= len(line) {
				return nil, fmt.Errorf("trailing backslash")
			}
			cur.WriteByte(line[i+1])
			inWord = true
			i += 2
		case c == '$':
			v, next, err := expand(i)
			if err != nil {
				return nil, err
			}
			// Unquoted expansions are field-split by sh; our values must
			// therefore be single words.
			if strings.ContainsAny(v, " \t\n*?[") {
				return nil, fmt.Errorf("unquoted $ expansion at offset %d yields %q, which sh would split or glob", i, v)
			}
			cur.WriteString(v)
			inWord = true
			i = next
		case strings.IndexByte(";|&<>()`", c) >= 0:
			return nil, fmt.Errorf("shell operator %q at offset %d is not supported: keep cmd a single simple command", c, i)
		case strings.IndexByte("*?[", c) >= 0:
			return nil, fmt.Errorf("unquoted glob character %q at offset %d would be expanded by sh", c, i)
		default:
			cur.WriteByte(c)
			inWord = true
			i++
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}
