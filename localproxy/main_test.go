package localproxy

import (
	"testing"

	"github.com/mrredis/mrredis/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }
