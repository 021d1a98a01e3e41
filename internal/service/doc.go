// Package service makes scproxy a service of the host's service manager:
// it writes, installs and controls the service definition (a systemd
// unit, a launchd property list, a Windows service) and, while the agent
// runs, tells the manager when it is ready, alive and stopping.
//
// Under systemd the agent speaks the notification protocol of
// sd_notify(3): READY=1 once the listener is bound, WATCHDOG=1 at half the
// WatchdogSec= interval the manager passes in WATCHDOG_USEC (only to the
// process WATCHDOG_PID names, when set), STOPPING=1 when shutdown begins.
// The unit it writes is Type=notify with WatchdogSec=, takes secrets
// through LoadCredential= (systemd.exec(5), "Credentials") and is
// sandboxed (systemd.exec(5), "Sandboxing", "Security"). Under launchd
// the agent is a LaunchDaemon or a LaunchAgent (launchd.plist(5)); under
// Windows it is a service of the Service Control Manager, reporting
// Running once the listener is bound and StopPending on a stop request.
//
// What can be built on every OS (the unit and property list texts, the
// commands each manager is driven with) is in files without a build tag,
// so that it is tested wherever the tests run; what needs the OS (the
// Service Control Manager) is in build-tagged files.
package service
