package cli

import (
	"log/slog"

	"github.com/scproxy/scproxy/outbound"
)

// accessLogLevels are the values of --access-log: the level of the line
// logged per request, or off.
var accessLogLevels = []choice[slog.Level]{
	{"debug", slog.LevelDebug},
	{"info", slog.LevelInfo},
	{"warn", slog.LevelWarn},
	{"off", outbound.AccessLogOff},
}
