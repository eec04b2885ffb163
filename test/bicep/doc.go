// Package bicep checks the infrastructure code without a Bicep compiler or an Azure
// subscription: every file under bicep/ is parsed with pycep-parser (through
// tools/bicep-lint/bicep_lint.py) and the parsed trees are checked for the settings that must
// not drift, such as the node autoprovisioning prerequisites, the role assignments and the
// federated credentials. The GitHub Actions workflow is checked here too.
//
// The tests need the parser's virtualenv; `make test` and `make lint` create it, and the
// tests skip with the command to run when it is missing.
package bicep
