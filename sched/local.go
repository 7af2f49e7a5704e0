package sched

import (
	"context"
	"io"
	"log/slog"

	"github.com/mrredis/mrredis/mesoslocal"
)

// defaultLocalMesos starts the embedded Mesos (package mesoslocal) for
// --master local[:N]: a master on a free loopback port and N agents on
// 127.0.0.2, 127.0.0.3, ...
func defaultLocalMesos(ctx context.Context, agents int, workDir string, log *slog.Logger) (string, io.Closer, error) {
	c, err := mesoslocal.Start(ctx, mesoslocal.Config{Listen: "127.0.0.1:0", Agents: agents, WorkDir: workDir, Logger: log})
	if err != nil {
		return "", nil, err
	}
	return c.URL(), closerFunc(c.Close), nil
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }
