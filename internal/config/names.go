package config

import (
	"net"
	"regexp"
	"strconv"
	"strings"
)

// Naming rules of Azure Storage: queue names are 3 to 63 lowercase letters, digits and single
// hyphens, starting and ending with a letter or digit. Table names are 3 to 63 letters and
// digits starting with a letter. Account names are 3 to 24 lowercase letters and digits.
var (
	queueNamePattern   = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$`)
	tableNamePattern   = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]{2,62}$`)
	accountNamePattern = regexp.MustCompile(`^[a-z0-9]{3,24}$`)
	suffixPattern      = regexp.MustCompile(`^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$`)
)

func validateQueueName(name, flagName, env string) error {
	if !queueNamePattern.MatchString(name) || strings.Contains(name, "--") {
		return Invalid("invalid %s %q (%s): queue names are 3-63 lowercase letters, digits and single hyphens, starting and ending with a letter or digit",
			flagName, name, env)
	}
	return nil
}

func validateTableName(name string) error {
	if !tableNamePattern.MatchString(name) {
		return Invalid("invalid --table %q (AZURE_TABLE_NAME): table names are 3-63 letters and digits, starting with a letter", name)
	}
	if strings.EqualFold(name, "tables") {
		return Invalid("invalid --table %q (AZURE_TABLE_NAME): the name is reserved, choose another", name)
	}
	return nil
}

func validateAccountName(name string) error {
	if !accountNamePattern.MatchString(name) {
		return Invalid("invalid --account-name %q (AZURE_STORAGE_ACCOUNT_NAME): account names are 3-24 lowercase letters and digits", name)
	}
	return nil
}

func validateEndpointSuffix(suffix string) error {
	if !suffixPattern.MatchString(suffix) {
		return Invalid("invalid --endpoint-suffix %q (AZURE_STORAGE_ENDPOINT_SUFFIX): give the DNS suffix only, for example core.windows.net or core.chinacloudapi.cn", suffix)
	}
	return nil
}

func validateListenAddress(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err == nil {
		var n int
		n, err = strconv.Atoi(port)
		if err == nil && (n < 0 || n > 65535) {
			err = strconv.ErrRange
		}
	}
	if err != nil || strings.Contains(host, " ") {
		return Invalid("invalid --http-addr %q (EDW_HTTP_ADDR): use host:port or :port, for example :8080", addr)
	}
	return nil
}
