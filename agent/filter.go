package agent

import "github.com/natp2p/natp2p/agent/ctconv"

// Filter decides which kernel flows the table models (see ctconv.Filter).
type Filter = ctconv.Filter
