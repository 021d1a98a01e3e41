package cli

import (
	"slices"

	"github.com/spf13/cobra"
)

// choiceNames are the names of a flag's choices, in their order.
func choiceNames[T any](choices []choice[T]) []string {
	out := make([]string, len(choices))
	for i, c := range choices {
		out[i] = c.name
	}
	return out
}

// flagChoices are the values of each enumerated flag, by command: the
// tables the commands validate with (pick), so that the shell completes
// exactly what the command accepts. Each flag's help lists them too
// (TestFlagChoicesInHelp).
func flagChoices() map[string]map[string][]string {
	run := map[string][]string{
		"security":            choiceNames(securities),
		"profile":             choiceNames(profiles),
		"sc-version":          choiceNames(scVersions),
		"bootstrap":           bootstrapNames,
		"soap-version":        choiceNames(soapVersions),
		"addressing":          choiceNames(addressings),
		"entropy":             choiceNames(entropies),
		"signature-algorithm": choiceNames(signatureMethods),
		"renew-mode":          choiceNames(renewModes),
		"log-level":           choiceNames(logLevels),
		"log-format":          choiceNames(logFormats),
	}
	return map[string]map[string][]string{
		"run":  run,
		"demo": {"sc-version": choiceNames(scVersions), "bootstrap": demoBootstrapNames()},
	}
}

// registerCompletions registers the completion of every enumerated flag
// of root's commands.
func registerCompletions(root *cobra.Command) {
	byCmd := flagChoices()
	for _, cmd := range root.Commands() {
		for flag, values := range byCmd[cmd.Name()] {
			if cmd.Flags().Lookup(flag) == nil {
				continue
			}
			values := slices.Clone(values)
			_ = cmd.RegisterFlagCompletionFunc(flag, func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
				return values, cobra.ShellCompDirectiveNoFileComp
			})
		}
	}
}
