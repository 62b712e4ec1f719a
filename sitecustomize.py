"""Python imports this module at start in every process whose PYTHONPATH holds the project
(`make` exports it, the image sets it, the tests' and benchmarks' processes set it).

eventlet warns at import that it is deprecated: eleven multi-line blocks on stderr per
`make run`, before logging is configured, in a log that is otherwise one JSON object per
line. The project knows (docs/eventlet.md holds the plan for its end of life), so the banner
is silenced here, and only the banner: every other warning still shows.
"""

import warnings

warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated", category=Warning)
