#!/usr/bin/env bash
# Sets up a Debian 12 machine for gridwatch and runs it or its tests. Works as root or as a
# user with sudo. Idempotent: what is already there is not installed again.
#
#   deploy/setup.sh demo    install, build, and run `gridwatch demo` (embedded SQLite, no services)
#   deploy/setup.sh test    install, start PostgreSQL/NATS/Mosquitto, build, run the whole test suite
#   deploy/setup.sh deps    only install what the build needs
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi

# What building and running needs: GStreamer (snapshots, motion, the camera simulator),
# ffmpeg (ffprobe checks the MP4 the hub sends to browsers), a C toolchain for bundled SQLite,
# and for the tests against a foreign RTSP server (ingest/tests/foreign_rtsp.rs), Debian's
# Python with GStreamer's bindings driving gst-rtsp-server (x264enc and x265enc come with the
# ugly and bad plugins). Info-ZIP's unzip, with Python's zipfile, reads an incident's evidence
# package in the tests, as the police would.
BUILD_PACKAGES=(
  build-essential pkg-config ca-certificates curl git
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev libgstrtspserver-1.0-dev
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-tools gstreamer1.0-x ffmpeg
  python3 python3-gi gir1.2-gst-rtsp-server-1.0 unzip
)
# What the tests of the production backends talk to, for real.
SERVICE_PACKAGES=(postgresql postgresql-client mosquitto nats-server)

# What the browser tests drive: Debian's Chromium, with CJK fonts for the Chinese pages.
# Node.js (20 or newer, for playwright-core) is taken as found, else Debian's.
BROWSER_PACKAGES=(chromium chromium-driver fonts-noto-cjk)

# The oldest Rust that builds the workspace (sqlx 0.9 needs 1.94).
RUST_MIN="1.94"

apt_install() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing Debian packages: ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
  fi
}

version_ge() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]; }

ensure_rust() {
  [ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
  local have=""
  command -v cargo >/dev/null && have=$(cargo --version | awk '{print $2}')
  if [ -n "$have" ] && version_ge "$have" "$RUST_MIN"; then
    return
  fi
  say "installing Rust (stable) with rustup: found '${have:-none}', need >= $RUST_MIN"
  if command -v rustup >/dev/null; then
    rustup toolchain install stable --profile default
    rustup default stable
  else
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile default
    . "$HOME/.cargo/env"
  fi
}

deps() {
  apt_install "${BUILD_PACKAGES[@]}"
  ensure_rust
}

pg_ok() { psql "$1" -Atqc 'select 1' >/dev/null 2>&1; }

# Starts PostgreSQL, NATS (JetStream) and Mosquitto if they are not answering, and exports
# GRIDWATCH_TEST_POSTGRES: a URL of a role allowed to create databases.
services() {
  apt_install "${SERVICE_PACKAGES[@]}"
  if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    say "starting PostgreSQL"
    local ver
    ver=$(ls /etc/postgresql | sort -V | tail -n1)
    $SUDO pg_ctlcluster --skip-systemctl-redirect "$ver" main start || $SUDO pg_ctlcluster "$ver" main start
    for _ in $(seq 50); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.2; done
  fi
  local url="${GRIDWATCH_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432/postgres}"
  if ! pg_ok "$url"; then
    # A stock Debian server asks for passwords on TCP: use the socket with a role of our own.
    local me
    me=$(id -un)
    $SUDO -u postgres psql -Atqc "SELECT 1 FROM pg_roles WHERE rolname = '$me'" | grep -q 1 \
      || $SUDO -u postgres createuser --createdb "$me"
    url="postgres://$me@localhost/postgres?host=/var/run/postgresql"
    pg_ok "postgresql:///postgres?host=/var/run/postgresql" || { echo "PostgreSQL is not reachable" >&2; exit 1; }
  fi
  export GRIDWATCH_TEST_POSTGRES="$url"

  if ! (exec 3<>/dev/tcp/127.0.0.1/4222) 2>/dev/null; then
    say "starting NATS with JetStream"
    $SUDO mkdir -p /var/lib/nats-server
    $SUDO start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
      -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
  fi
  if ! (exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null; then
    say "starting Mosquitto"
    $SUDO mosquitto -d -c /etc/mosquitto/mosquitto.conf
  fi
  for port in 4222 1883; do
    for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.2; done
  done
}

case "${1:-}" in
  deps)
    deps
    ;;
  demo)
    deps
    say "building gridwatch (release)"
    cargo build --release --locked --bin gridwatch
    say "starting the demo"
    exec target/release/gridwatch demo
    ;;
  test)
    deps
    services
    # The ffprobe checks of the MP4 we send must run, not skip, here.
    export GRIDWATCH_REQUIRE_FFPROBE=1
    # As root, the tests that mount a small file system (a full disk, a full evidence disk)
    # must run, not skip.
    if [ "$(id -u)" = 0 ]; then export GRIDWATCH_REQUIRE_MOUNT=1; fi
    say "checking format and lints"
    cargo fmt --all --check
    # vendor/retina follows upstream's lint policy (its tests print), so it is not linted here.
    cargo clippy --locked --workspace --exclude retina --all-targets -- -D warnings
    say "building"
    cargo build --locked --workspace --bins
    say "running the tests"
    if command -v cargo-nextest >/dev/null; then
      # Each test in a process of its own, many at once (.config/nextest.toml says how many);
      # nextest does not run doc tests, so they follow.
      cargo nextest run --locked --workspace
      cargo test --locked --workspace --doc
    else
      cargo test --locked --workspace
    fi
    say "running the browser tests"
    apt_install "${BROWSER_PACKAGES[@]}"
    command -v node >/dev/null || apt_install nodejs npm
    tests/browser/run.sh
    ;;
  *)
    sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
