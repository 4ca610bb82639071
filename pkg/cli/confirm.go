package cli

import (
	"bufio"
	"fmt"
	"strings"
)

// confirm shows plan on stderr and reads y/yes from stdin (a terminal).
func confirm(streams IOStreams, plan []string) (bool, error) {
	for _, l := range plan {
		fmt.Fprintf(streams.Err, "  %s\n", l)
	}
	fmt.Fprint(streams.Err, "Proceed? [y/N] ")
	line, err := bufio.NewReader(streams.In).ReadString('\n')
	if err != nil && line == "" {
		return false, fmt.Errorf("reading the answer: %w", err)
	}
	answer := strings.ToLower(strings.TrimSpace(line))
	return answer == "y" || answer == "yes", nil
}
