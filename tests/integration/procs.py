"""Stopping a process a test started: one signal, a bounded wait, SIGKILL if it hangs. No scapy here:
tests that need none (test_readme_example) import it too."""
import signal
import subprocess


def stop_process(proc, sig=signal.SIGTERM, timeout=15):
    """Sends `sig` unless `proc` has exited, waits up to `timeout` s, kills it if it is still there;
    returns its exit status."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode
