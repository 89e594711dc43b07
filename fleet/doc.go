// Package fleet holds the assets for monitoring natp2p across a fleet of
// routers, and their tests; it has no Go code of its own:
//
//   - natp2p.rules.yml: Prometheus recording rules (the compliance share
//     per check, per model and firmware through natp2p_device_info) and
//     alerting rules (a regression after a firmware rollout, routers that
//     stopped reporting, a probe server outage told apart from one
//     router's probe failing, enforcement rules missing);
//   - rules_test.yml: their promtool unit tests, on a simulated fleet;
//   - grafana/natp2p-fleet.json: a Grafana dashboard, the fleet and then
//     one router.
//
// sim_linux_test.go (integration tag) runs them on a simulated fleet of
// 500 real natp2p-agent daemons (internal/fleetsim) scraped by Prometheus
// and pushing into victoria-metrics, where vmalert runs them: the
// compliance table they record must equal the generated fleet's.
//
// docs/fleet.md says how to run them. The tests run promtool (Debian
// package prometheus) when it is installed, and require it under
// NATP2P_REQUIRE_LAB=1 (CI); they also check that every series the
// assets use is one docs/metrics.md lists.
package fleet
