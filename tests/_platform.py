"""What some tests need that only POSIX systems (Linux, macOS) give: the suite runs on Windows
too, and skips those tests there with a reason that names what they need."""
import os

import pytest


def posix_only(needs: str):
    """A skip marker for Windows, which lacks `needs`: signals sent with os.kill (there it ends
    the process at once, pytest too), SIGKILL, file mode bits and the umask, symbolic links
    (they need privileges there)."""
    return pytest.mark.skipif(os.name == "nt", reason=f"needs {needs} (not on Windows)")


SIGNALS = "signals sent with os.kill"
SIGKILL = "a process killed with SIGKILL"
MODES = "file mode bits and the umask"
SYMLINKS = "symbolic links made without privileges"
