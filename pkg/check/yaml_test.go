package check

import (
	"gopkg.in/yaml.v3"

	"github.com/certflow/certflow/pkg/config"
)

func yamlOf(cfg *config.Config) ([]byte, error) { return yaml.Marshal(cfg) }
