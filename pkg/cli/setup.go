package cli

import (
	"log/slog"

	"github.com/spf13/cobra"
)

// setup loads the configuration for a command (targets plus the log section) and builds its
// logger. defaultLogFormat is "json" for serve and "text" elsewhere.
func (a *app) setup(cmd *cobra.Command, targets map[string]any, defaultLogFormat string) (*slog.Logger, error) {
	logCfg := defaultLogSection()
	targets["log"] = logCfg
	if err := a.loadConfig(cmd, targets); err != nil {
		return nil, err
	}
	return a.logger(logCfg, defaultLogFormat)
}
