"""If the embedded tritonserver dies, the server exits non-zero (a supervisor restarts it)."""

from __future__ import annotations

import os
import signal

from tests.e2e.conftest import start_server
from tests.e2e.test_lifecycle import descendants


def test_server_exits_when_triton_dies(tmp_path, prepared_model):
    running = start_server(tmp_path)
    try:
        triton = [
            pid for pid, cmd in descendants(running.process.pid).items() if cmd.split(" ")[0].endswith("/tritonserver")
        ]
        assert len(triton) == 1
        os.kill(triton[0], signal.SIGKILL)
        code = running.process.wait(60)
        assert code not in (0, None)
        assert "tritonserver exited" in running.log_tail()
    finally:
        running.stop()
