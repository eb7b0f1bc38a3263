# apt_install PKG…: install the Debian packages that are missing, with apt-get (as root or through
# sudo); otherwise say which to install and return 1. Sourced by setup.sh and serve.sh.
apt_install() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null && sudo="sudo"
  if command -v apt-get >/dev/null && { [ "$(id -u)" -eq 0 ] || [ -n "$sudo" ]; }; then
    echo "$(basename "$0"): apt-get install ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "$(basename "$0"): please install ${missing[*]} (no apt-get or no root here)" >&2
    return 1
  fi
}
