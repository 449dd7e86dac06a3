#!/usr/bin/env bash
# Prepares a real ssh server for the tests of `launch refresh --remote`, and
# is cheap to run again: what a previous run made or started is reused.
#
#   1. installs openssh-server and rsync when missing;
#   2. creates the test user launchremote (its home is where the files land),
#      and lets root and the uid-1000 test user log in with a key (the
#      podman machine test's own sshd);
#   3. makes a client key and a host key under /var/lib/launch-ci/ssh and
#      authorizes the client key for launchremote;
#   4. starts sshd on 127.0.0.1:2299 (no systemd; pid in
#      /run/launch-ci-sshd.pid, log in /var/log/launch-ci/sshd.log) unless
#      it already answers there.
#
# The tests read /var/lib/launch-ci/ssh/env (LAUNCH_TEST_SSH_PORT,
# LAUNCH_TEST_SSH_USER, LAUNCH_TEST_SSH_KEY).
#
# Usage: .ci/sshd.sh   (as root)
set -euo pipefail

dir=/var/lib/launch-ci/ssh
logdir=/var/log/launch-ci
port=2299
user=launchremote
mkdir -p "$dir" "$logdir"
chmod 0755 /var/lib/launch-ci "$dir"
log() { echo "sshd.sh: $*" >&2; }

# ---- 1. packages -------------------------------------------------------------
need=()
for pkg in openssh-server openssh-client rsync; do
	dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
	log "installing ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# policy-rc.d keeps the package from starting its own sshd on port 22.
	printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
	apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
	rm -f /usr/sbin/policy-rc.d
fi

# ---- 2. the remote user --------------------------------------------------------
getent passwd "$user" >/dev/null || useradd --create-home --shell /bin/sh "$user"
# useradd locks the account ("!"), and sshd without PAM refuses a locked
# account even for a key: "*" means no password, not locked.
usermod -p '*' "$user"
home=$(getent passwd "$user" | cut -d: -f6)

# The podman machine test (cmd/launch/e2e_podman_machine_test.go) runs an
# sshd of its own, without PAM, for root and the uid-1000 test user: sshd
# then refuses a locked account's key ("!" in /etc/shadow), as useradd
# leaves it. "*": no password, not locked.
for u in root $(getent passwd 1000 | cut -d: -f1); do
	if getent shadow "$u" | cut -d: -f2 | grep -q '^!'; then
		log "unlocking $u for key logins (no password)"
		usermod -p '*' "$u"
	fi
done

# ---- 3. keys -------------------------------------------------------------------
[ -f "$dir/client_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C launch-ci-client -f "$dir/client_ed25519"
[ -f "$dir/host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C launch-ci-host -f "$dir/host_ed25519"
install -d -m 0700 -o "$user" -g "$user" "$home/.ssh"
install -m 0600 -o "$user" -g "$user" "$dir/client_ed25519.pub" "$home/.ssh/authorized_keys"

cat >"$dir/sshd_config" <<CONF
ListenAddress 127.0.0.1
Port $port
HostKey $dir/host_ed25519
PidFile /run/launch-ci-sshd.pid
AllowUsers $user
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
UsePAM no
PermitRootLogin no
Subsystem sftp internal-sftp
CONF

cat >"$dir/env" <<ENV
LAUNCH_TEST_SSH_PORT=$port
LAUNCH_TEST_SSH_USER=$user
LAUNCH_TEST_SSH_KEY=$dir/client_ed25519
ENV

# ---- 4. sshd -------------------------------------------------------------------
answers() { timeout 5 ssh-keyscan -p "$port" 127.0.0.1 >/dev/null 2>&1; }
if ! answers; then
	mkdir -p /run/sshd
	log "starting sshd on 127.0.0.1:$port (log: $logdir/sshd.log)"
	/usr/sbin/sshd -f "$dir/sshd_config" -E "$logdir/sshd.log"
	for _ in $(seq 1 20); do answers && break; sleep 0.5; done
	answers || { log "sshd does not answer on 127.0.0.1:$port; last lines of $logdir/sshd.log:"; tail -n 20 "$logdir/sshd.log" >&2; exit 1; }
fi
ssh -F /dev/null -p "$port" -i "$dir/client_ed25519" -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
	"$user@127.0.0.1" true || { log "ssh to $user@127.0.0.1:$port fails"; exit 1; }
log "sshd answers on 127.0.0.1:$port for $user"
