// Package setting owns the error every scproxy configuration reports
// about one of its settings (outbound.Config, bootstrap.KerberosConfig,
// bootstrap.TokenSTS): an *Error names the setting as the configuration
// spells it, so that a front end finds it with errors.As and says it in
// its own words, the command line with its flags.
package setting
