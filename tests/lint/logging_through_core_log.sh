#!/usr/bin/env bash
# Everything logs through core/log.h: spdlog's headers belong to core/log.cpp
# alone. Anywhere else they compile a second copy of spdlog with its own
# default logger, which writes to stdout (keel-dr's and the plugins'
# protocol channel) and ignores KEEL_LOG and KEEL_LOG_FILE.
set -euo pipefail
cd "$(dirname "$0")/../.."
offenders=$(grep -rlE '#include[[:space:]]*[<"]spdlog/|spdlog::' \
  --include='*.cpp' --include='*.h' --include='*.hpp' cli core agent plugins tests bench |
  grep -vx 'core/log.cpp' || true)
if [[ -n $offenders ]]; then
  echo "spdlog is used outside core/log.cpp (log through core/log.h instead):" >&2
  echo "$offenders" >&2
  exit 1
fi
echo "spdlog only in core/log.cpp"
