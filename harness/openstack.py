"""A throwaway OpenStack on loopback: RabbitMQ, Keystone, Placement, Glance, Neutron, Nova.

Debian 12's own OpenStack (Zed: Keystone 22, Placement 8, Glance 25, Neutron 21, Nova 26)
runs as root from one temp directory: SQLite databases (in WAL mode), config files, fernet
keys, image store, locks and logs all live there, every service listens on a free loopback
port, and every daemon is a child of the test session, so it always stops with the tests.
Nova's compute service runs Nova's own fake virt driver (`fake.FakeDriver`): instances
"run" in nova-compute's memory, so a restarted nova-compute has forgotten them, as a
rebooted hypervisor has. Neutron runs ML2 with the Linux bridge agent on the compute host
(no interface mapped; instances boot without networks), which reports its state to
neutron-server as on any compute node.

The WSGI APIs (Keystone, Placement, Nova's compute API) run under uWSGI as Debian runs
them; Glance's and Neutron's APIs, nova-conductor, nova-scheduler and nova-compute run
their own eventlet servers. One admin user serves the tests and the services' own
authentication. What it takes and how long: docs/openstack.md.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import secrets
import shlex
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness.process import Peer, PeerGroup, free_port, http_ok, wait_until

PYTHON = "/usr/bin/python3"  # Debian's Python with Debian's OpenStack, never the venv's
REGION = "RegionOne"
COMPUTE_HOST = "compute1"
ADMIN = "admin"

# Nova's API pipeline as Debian's nova-common ships it (api-paste.ini), v2.1 only.
NOVA_PASTE = """\
[composite:osapi_compute]
use = call:nova.api.openstack.urlmap:urlmap_factory
/: oscomputeversions
/v2.1: oscomputeversion_v2
/v2.1/+: openstack_compute_api_v21

[composite:openstack_compute_api_v21]
use = call:nova.api.auth:pipeline_factory_v21
keystone = http_proxy_to_wsgi compute_req_id faultwrap request_log sizelimit authtoken \
keystonecontext osapi_compute_app_v21

[filter:request_log]
paste.filter_factory = nova.api.openstack.requestlog:RequestLog.factory
[filter:compute_req_id]
paste.filter_factory = nova.api.compute_req_id:ComputeReqIdMiddleware.factory
[filter:faultwrap]
paste.filter_factory = nova.api.openstack:FaultWrapper.factory
[filter:sizelimit]
paste.filter_factory = oslo_middleware:RequestBodySizeLimiter.factory
[filter:http_proxy_to_wsgi]
paste.filter_factory = oslo_middleware.http_proxy_to_wsgi:HTTPProxyToWSGI.factory
[filter:keystonecontext]
paste.filter_factory = nova.api.auth:NovaKeystoneContext.factory
[filter:authtoken]
paste.filter_factory = keystonemiddleware.auth_token:filter_factory
[app:osapi_compute_app_v21]
paste.app_factory = nova.api.openstack.compute:APIRouterV21.factory
[pipeline:oscomputeversions]
pipeline = faultwrap request_log http_proxy_to_wsgi oscomputeversionapp
[pipeline:oscomputeversion_v2]
pipeline = compute_req_id faultwrap request_log http_proxy_to_wsgi oscomputeversionapp_v2
[app:oscomputeversionapp]
paste.app_factory = nova.api.openstack.compute.versions:Versions.factory
[app:oscomputeversionapp_v2]
paste.app_factory = nova.api.openstack.compute.versions:VersionsV2.factory
"""

# Glance's API pipeline as Debian's glance-common ships it, with Keystone.
GLANCE_PASTE = """\
[pipeline:glance-api-keystone]
pipeline = http_proxy_to_wsgi versionnegotiation authtoken context rootapp

[composite:rootapp]
paste.composite_factory = glance.api:root_app_factory
/: apiversions
/v2: apiv2app
[app:apiversions]
paste.app_factory = glance.api.versions:create_resource
[app:apiv2app]
paste.app_factory = glance.api.v2.router:API.factory
[filter:versionnegotiation]
paste.filter_factory = glance.api.middleware.version_negotiation:VersionNegotiationFilter.factory
[filter:context]
paste.filter_factory = glance.api.middleware.context:ContextMiddleware.factory
[filter:authtoken]
paste.filter_factory = keystonemiddleware.auth_token:filter_factory
delay_auth_decision = true
[filter:http_proxy_to_wsgi]
paste.filter_factory = oslo_middleware:HTTPProxyToWSGI.factory
"""

# Neutron's API pipeline as Debian's neutron-common ships it, with Keystone.
NEUTRON_PASTE = """\
[composite:neutron]
use = egg:Paste#urlmap
/: neutronversions_composite
/v2.0: neutronapi_v2_0
[composite:neutronapi_v2_0]
use = call:neutron.auth:pipeline_factory
keystone = http_proxy_to_wsgi request_id catch_errors authtoken keystonecontext extensions \
neutronapiapp_v2_0
[composite:neutronversions_composite]
use = call:neutron.auth:pipeline_factory
keystone = http_proxy_to_wsgi neutronversions
[filter:request_id]
paste.filter_factory = oslo_middleware:RequestId.factory
[filter:catch_errors]
paste.filter_factory = oslo_middleware:CatchErrors.factory
[filter:http_proxy_to_wsgi]
paste.filter_factory = oslo_middleware.http_proxy_to_wsgi:HTTPProxyToWSGI.factory
[filter:keystonecontext]
paste.filter_factory = neutron.auth:NeutronKeystoneContext.factory
[filter:authtoken]
paste.filter_factory = keystonemiddleware.auth_token:filter_factory
[filter:extensions]
paste.filter_factory = neutron.api.extensions:plugin_aware_extension_middleware_factory
[app:neutronversions]
paste.app_factory = neutron.pecan_wsgi.app:versions_factory
[app:neutronapiapp_v2_0]
paste.app_factory = neutron.api.v2.router:APIRouter.factory
"""

# Neutron's schema comes from its models (as Neutron's own tests make it), stamped as head:
# its few hundred alembic migrations would take a minute or more on this machine.
NEUTRON_SCHEMA = (
    "import sys, sqlalchemy; from neutron.db.migration.models import head; "
    "head.get_metadata().create_all(sqlalchemy.create_engine(sys.argv[1]))"
)

# The WSGI entry points Debian's console scripts wrap (keystone-wsgi-public, ...).
WSGI = {
    "keystone": "from keystone.server.wsgi import initialize_public_application\n"
    "application = initialize_public_application()\n",
    "placement": "from placement.wsgi import init_application\napplication = init_application()\n",
    "nova-api": "from nova.api.openstack.compute.wsgi import init_application\n"
    "application = init_application()\n",
}


def _main(module: str) -> list[str]:
    """argv running a service's `main()` as its Debian console script does."""
    return [PYTHON, "-c", f"import sys; from {module} import main; sys.exit(main())"]


def _port_open(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=1):
        return True


class OpenStackCloud(PeerGroup):
    """Start with `start()`, always `stop()` (or `with cloud.running()`). `auth` is what an
    openstack target needs."""

    what = "openstack"
    start_timeout = 240.0

    def __init__(self, base: Path, sync_power_state_interval: int = 2) -> None:
        self.dir = base
        # Nova compares its database with the hypervisor every 600 s by default; the tests
        # shorten the wait, not the behaviour. A benchmark of many instances keeps Nova's
        # default: the comparison reads every instance of the host each time.
        self.sync_power_state_interval = sync_power_state_interval
        self.log_dir = base / "log"
        self.password = secrets.token_hex(12)
        self.ports = {
            name: free_port()
            for name in (
                "mysql",
                "amqp",
                "dist",
                "epmd",
                "keystone",
                "placement",
                "nova",
                "glance",
                "neutron",
            )
        }
        self.peers: dict[str, Peer] = {}
        self.timings: dict[str, float] = {}
        self.started: set[str] = set()
        self._generation = 0

    # --- what clients use --------------------------------------------------------------
    @property
    def auth_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['keystone']}/v3"

    @property
    def auth(self) -> dict[str, str]:
        """openstacksdk's auth dict for the admin user (also the services' user)."""
        return {
            "auth_url": self.auth_url,
            "username": ADMIN,
            "password": self.password,
            "project_name": ADMIN,
            "user_domain_name": "Default",
            "project_domain_name": "Default",
        }

    def target(
        self, name: str = "os", password: str | None = None, **overrides: Any
    ) -> dict[str, Any]:
        """A config entry for the exporter pointing at this cloud as its admin, the password
        in a file as the docs recommend (`password` overrides the right one)."""
        # A file of its own per entry: exporters of several tests share one cloud.
        fd, path = tempfile.mkstemp(dir=self.dir, prefix=f"{name}-", suffix=".password")
        with os.fdopen(fd, "w") as secret:
            secret.write((self.password if password is None else password) + "\n")
        auth = self.auth
        entry: dict[str, Any] = {
            "name": name,
            "kind": "openstack",
            "auth_url": auth["auth_url"],
            "username": auth["username"],
            "password_file": path,
            "project_name": auth["project_name"],
            "region_name": REGION,
        }
        entry.update(overrides)
        return entry

    def connect(self) -> Any:
        """An openstacksdk Connection as the admin, imported as the exporter imports it."""
        from exporter.collectors.openstack import load_openstack

        return load_openstack().connect(auth=self.auth, region_name=REGION)

    # --- lifecycle (start() and running() come with PeerGroup) ------------------------
    @contextlib.contextmanager
    def _timed(self, what: str) -> Iterator[None]:
        began = time.monotonic()
        yield
        self.timings[what] = round(time.monotonic() - began, 2)

    def _start(self, timeout: float) -> None:
        for sub in (
            "log",
            "run",
            "lock",
            "fernet",
            "credential",
            "images",
            "nova",
            "neutron",
            "rabbit",
        ):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        self._write_configs()
        # RabbitMQ boots in the background while the databases are created.
        with self._timed("rabbitmq (started)"):
            self._start_rabbitmq()
        with self._timed("mariadb"):
            self._start_mariadb(timeout)
        with self._timed("databases"):
            self._sync_databases()
        with self._timed("keystone"):
            self._start_keystone(timeout)
        with self._timed("catalog"):
            self._register_catalog()
        with self._timed("rabbitmq (ready)"):
            self.peers["rabbitmq"].wait_ready(lambda: _port_open(self.ports["amqp"]), timeout)
        with self._timed("apis"):
            self._start_apis(timeout)
        with self._timed("nova services"):
            for name in ("conductor", "scheduler"):
                self.peers[f"nova-{name}"] = self._daemon(
                    f"nova-{name}", [*_main(f"nova.cmd.{name}"), *self._nova_args()]
                )
            self.start_compute()
            self.start_agent()
            self.wait_compute_up(timeout)
            self.wait_agent(alive=True, timeout=timeout)

    def stop(self) -> None:
        # SIGTERM to every service's session at once, then wait for each: the slowest
        # (uWSGI's graceful stop) bounds the teardown, not the sum of all.
        peers = list(reversed(self.peers.values()))
        for peer in peers:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(peer.proc.pid, signal.SIGTERM)
        for peer in peers:
            _stop_group(peer)
        self.peers.clear()
        # Erlang's port mapper, which the node started as a daemon on its own port.
        if "rabbitmq" in self.started:
            subprocess.run(
                ["epmd", "-kill"],
                env={**os.environ, "ERL_EPMD_PORT": str(self.ports["epmd"])},
                capture_output=True,
                timeout=10,
                check=False,
            )

    def db(self, name: str) -> str:
        """SQLAlchemy URL of one service's database on the harness's MariaDB."""
        return f"mysql+pymysql://root@127.0.0.1:{self.ports['mysql']}/{name}?charset=utf8"

    # --- configuration -----------------------------------------------------------------
    def _authtoken(self) -> str:
        return (
            f"www_authenticate_uri = {self.auth_url}\n"
            f"auth_url = {self.auth_url}\n"
            "auth_type = password\n"
            "user_domain_name = Default\n"
            "project_domain_name = Default\n"
            f"project_name = {ADMIN}\n"
            f"username = {ADMIN}\n"
            f"password = {self.password}\n"
            f"region_name = {REGION}\n"
        )

    def _write_configs(self) -> None:
        d, p = self.dir, self.ports
        transport = f"rabbit://guest:guest@127.0.0.1:{p['amqp']}/"
        (d / "keystone.conf").write_text(
            "[DEFAULT]\nuse_stderr = true\n"
            f"[database]\nconnection = {self.db('keystone')}\n"
            "[token]\nprovider = fernet\n"
            f"[fernet_tokens]\nkey_repository = {d}/fernet\n"
            f"[fernet_receipts]\nkey_repository = {d}/fernet\n"
            f"[credential]\nkey_repository = {d}/credential\n"
        )
        (d / "placement").mkdir(exist_ok=True)
        (d / "placement" / "placement.conf").write_text(
            "[DEFAULT]\nuse_stderr = true\n"
            f"[placement_database]\nconnection = {self.db('placement')}\n"
            "[api]\nauth_strategy = keystone\n"
            f"[keystone_authtoken]\n{self._authtoken()}"
        )
        (d / "glance-api-paste.ini").write_text(GLANCE_PASTE)
        (d / "glance-api.conf").write_text(
            "[DEFAULT]\nuse_stderr = true\n"
            f"bind_host = 127.0.0.1\nbind_port = {p['glance']}\nworkers = 1\n"
            f"[database]\nconnection = {self.db('glance')}\n"
            f"[keystone_authtoken]\n{self._authtoken()}"
            f"[paste_deploy]\nflavor = keystone\nconfig_file = {d}/glance-api-paste.ini\n"
            "[glance_store]\nstores = file\ndefault_store = file\n"
            f"filesystem_store_datadir = {d}/images\n"
            f"[oslo_concurrency]\nlock_path = {d}/lock\n"
        )
        (d / "neutron-api-paste.ini").write_text(NEUTRON_PASTE)
        (d / "neutron.conf").write_text(
            "[DEFAULT]\nuse_stderr = true\n"
            f"host = {COMPUTE_HOST}\n"
            "core_plugin = ml2\nservice_plugins =\n"
            f"bind_host = 127.0.0.1\nbind_port = {p['neutron']}\n"
            "api_workers = 1\nrpc_workers = 1\nrpc_state_report_workers = 1\n"
            f"transport_url = {transport}\n"
            "auth_strategy = keystone\n"
            f"api_paste_config = {d}/neutron-api-paste.ini\n"
            f"state_path = {d}/neutron\n"
            # Agents report every 30 s and count as dead after 75 s by default.
            "agent_down_time = 8\n"
            "notify_nova_on_port_status_changes = false\n"
            "notify_nova_on_port_data_changes = false\n"
            f"[database]\nconnection = {self.db('neutron')}\n"
            f"[keystone_authtoken]\n{self._authtoken()}"
            f"[oslo_concurrency]\nlock_path = {d}/lock\n"
            "[agent]\nreport_interval = 2\nroot_helper =\n"
            "[privsep]\nhelper_command = privsep-helper\n"
            "[ml2]\ntype_drivers = flat\ntenant_network_types =\n"
            "mechanism_drivers = linuxbridge\n"
            "[ml2_type_flat]\nflat_networks = physnet1\n"
            "[securitygroup]\nfirewall_driver = noop\n"
            "[linux_bridge]\nphysical_interface_mappings =\n"
            "[vxlan]\nenable_vxlan = false\n"
            # Zed marks the Linux bridge driver experimental (Open vSwitch would need
            # ovs-vswitchd and its database as well); it is the lightest real L2 agent.
            "[experimental]\nlinuxbridge = true\n"
        )
        (d / "api-paste.ini").write_text(NOVA_PASTE)
        self.nova_conf = d / "nova.conf"
        self.write_nova_conf()
        self.compute_conf = d / "nova-compute.conf"
        self.compute_conf.write_text(
            # What Nova does with instances it expected running when nova-compute starts
            # (a host boot): `false` leaves them as the hypervisor has them (here: gone).
            "[DEFAULT]\nresume_guests_state_on_host_boot = false\n"
        )
        for service, code in WSGI.items():
            (d / f"{service}.wsgi").write_text(code)

    def write_nova_conf(self, extra: str = "") -> None:
        d, p = self.dir, self.ports
        self.nova_conf.write_text(
            "[DEFAULT]\nuse_stderr = true\n"
            f"host = {COMPUTE_HOST}\n"
            f"state_path = {d}/nova\ninstances_path = {d}/nova/instances\n"
            f"transport_url = rabbit://guest:guest@127.0.0.1:{p['amqp']}/\n"
            "compute_driver = fake.FakeDriver\n"
            "my_ip = 127.0.0.1\n"
            f"sync_power_state_interval = {self.sync_power_state_interval}\n"
            "heal_instance_info_cache_interval = -1\n"
            # Periodic tasks start at once, not after a random delay of up to 60 s (the
            # scheduler's discovery of the compute host is one).
            "periodic_fuzzy_delay = 0\n"
            # nova-compute reports to nova-conductor every 10 s by default and counts as
            # down after 60 s; shorter here so the service-down test waits seconds.
            "report_interval = 2\nservice_down_time = 8\n"
            "osapi_compute_workers = 1\n"
            f"[api_database]\nconnection = {self.db('nova_api')}\n"
            f"[database]\nconnection = {self.db('nova')}\n"
            "[api]\nauth_strategy = keystone\n"
            f"[keystone_authtoken]\n{self._authtoken()}"
            f"[placement]\n{self._authtoken()}"
            f"[neutron]\n{self._authtoken()}"
            f"[glance]\nregion_name = {REGION}\n"
            "[conductor]\nworkers = 1\n"
            "[scheduler]\nworkers = 1\ndiscover_hosts_in_cells_interval = 2\n"
            f"[oslo_concurrency]\nlock_path = {d}/lock\n"
            f"[wsgi]\napi_paste_config = {d}/api-paste.ini\n"
            "[vnc]\nenabled = false\n"
            "[os_vif_linux_bridge]\nuse_ipv6 = false\n" + extra
        )

    def _nova_args(self) -> list[str]:
        return ["--config-file", str(self.nova_conf)]

    # --- one-off commands --------------------------------------------------------------
    def _sync_databases(self) -> None:
        d = self.dir
        ks = ["--config-file", str(d / "keystone.conf")]
        nova = self._nova_args()
        # Each tool is its own Python start (1 to 3 s); independent ones run side by side.
        jobs = {
            "keystone": [
                [*_main("keystone.cmd.manage"), *ks, "db_sync"],
                [
                    *_main("keystone.cmd.manage"),
                    *ks,
                    "fernet_setup",
                    "--keystone-user",
                    "root",
                    "--keystone-group",
                    "root",
                ],
                [
                    *_main("keystone.cmd.manage"),
                    *ks,
                    "credential_setup",
                    "--keystone-user",
                    "root",
                    "--keystone-group",
                    "root",
                ],
                [
                    *_main("keystone.cmd.manage"),
                    *ks,
                    "bootstrap",
                    "--bootstrap-password",
                    self.password,
                    "--bootstrap-admin-url",
                    self.auth_url,
                    "--bootstrap-public-url",
                    self.auth_url,
                    "--bootstrap-internal-url",
                    self.auth_url,
                    "--bootstrap-region-id",
                    REGION,
                ],
            ],
            "placement": [
                [
                    *_main("placement.cmd.manage"),
                    "--config-file",
                    str(d / "placement" / "placement.conf"),
                    "db",
                    "sync",
                ],
            ],
            "glance": [
                [
                    *_main("glance.cmd.manage"),
                    "--config-file",
                    str(d / "glance-api.conf"),
                    "db_sync",
                ],
            ],
            "neutron": [
                [PYTHON, "-c", NEUTRON_SCHEMA, f"{self.db('neutron')}"],
                [
                    *_main("neutron.db.migration.cli"),
                    "--config-file",
                    str(d / "neutron.conf"),
                    "stamp",
                    "heads",
                ],
            ],
            "nova": [
                [*_main("nova.cmd.manage"), *nova, "api_db", "sync"],
                [
                    *_main("nova.cmd.manage"),
                    *nova,
                    "cell_v2",
                    "map_cell0",
                    "--database_connection",
                    f"{self.db('nova_cell0')}",
                ],
                [*_main("nova.cmd.manage"), *nova, "cell_v2", "create_cell", "--name", "cell1"],
                [*_main("nova.cmd.manage"), *nova, "db", "sync"],
            ],
        }
        chains = {
            name: Peer(
                f"manage-{name}",
                ["/bin/sh", "-ec", " && ".join(shlex.join(cmd) for cmd in cmds)],
                self.log_dir,
                cwd=d,
            )
            for name, cmds in jobs.items()
        }
        outcomes = {name: chain.finish(300) for name, chain in chains.items()}
        failed = [f"{name}:\n{tail}" for name, tail in outcomes.items() if tail is not None]
        if failed:
            raise RuntimeError("database setup failed for " + "\n".join(failed))

    # --- daemons -----------------------------------------------------------------------
    def _daemon(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> Peer:
        self._generation += 1
        return Peer(f"{name}-{self._generation}", argv, self.log_dir, env=env, cwd=self.dir)

    def _uwsgi(self, name: str, port: int, env: dict[str, str], processes: int = 2) -> Peer:
        return self._daemon(
            name,
            [
                "uwsgi",
                "--plugins",
                "python3",
                "--http-socket",
                f"127.0.0.1:{port}",
                "--wsgi-file",
                str(self.dir / f"{name}.wsgi"),
                "--master",
                # Processes, not threads: SQLite connections must stay in their thread.
                "--processes",
                str(processes),
                "--enable-threads",
                "--die-on-term",
                "--need-app",
                "--lazy-apps",
                "--buffer-size",
                "65535",
                # uWSGI's plain HTTP socket closes each connection after its answer; say so,
                # or clients reuse the closed connection and see "connection reset".
                "--add-header",
                "Connection: close",
                # Stop within seconds (uWSGI waits up to 60 s for busy workers by default).
                "--worker-reload-mercy",
                "5",
                "--reload-mercy",
                "5",
                "--hook-master-start",
                "unix_signal:15 gracefully_kill_them_all",
            ],
            env={"PYTHONDONTWRITEBYTECODE": "1", **env},
        )

    def _start_mariadb(self, timeout: float) -> None:
        """MariaDB with its data in the temp dir, on a free loopback port, without grant
        tables (any user connects; only loopback can reach it)."""
        data, sock = self.dir / "mysql", self.dir / "run" / "mysql.sock"
        install = Peer(
            "mariadb-install-db",
            [
                "mariadb-install-db",
                "--no-defaults",
                f"--datadir={data}",
                "--user=root",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ],
            self.log_dir,
        )
        if (tail := install.finish(120)) is not None:
            raise RuntimeError(f"mariadb-install-db failed:\n{tail}")
        self.peers["mariadb"] = peer = self._daemon(
            "mariadb",
            [
                "mariadbd",
                "--no-defaults",
                f"--datadir={data}",
                f"--socket={sock}",
                f"--port={self.ports['mysql']}",
                "--bind-address=127.0.0.1",
                "--user=root",
                "--skip-grant-tables",
                "--skip-name-resolve",
                "--skip-log-bin",
                f"--pid-file={self.dir / 'run' / 'mysql.pid'}",
                # A test database: small, and no flush to disk at each commit.
                "--innodb-buffer-pool-size=128M",
                "--innodb-flush-log-at-trx-commit=0",
                "--max-connections=500",
            ],
        )
        peer.wait_ready(functools.partial(_port_open, self.ports["mysql"]), timeout)
        names = ("keystone", "placement", "glance", "neutron", "nova_api", "nova", "nova_cell0")
        create = Peer(
            "mariadb-create",
            [
                "mariadb",
                "--no-defaults",
                f"--socket={sock}",
                "-e",
                " ".join(f"CREATE DATABASE {name} CHARACTER SET utf8;" for name in names),
            ],
            self.log_dir,
        )
        if (tail := create.finish(60)) is not None:
            raise RuntimeError(f"creating the databases failed:\n{tail}")

    def _start_rabbitmq(self) -> None:
        d, p = self.dir / "rabbit", self.ports
        (d / "enabled_plugins").write_text("[].\n")
        env = {
            "HOME": str(d),  # its Erlang cookie
            "RABBITMQ_NODENAME": f"hvx{p['amqp']}@localhost",
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(p["amqp"]),
            "RABBITMQ_DIST_PORT": str(p["dist"]),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "ERL_EPMD_PORT": str(p["epmd"]),
            "RABBITMQ_MNESIA_BASE": str(d / "mnesia"),
            "RABBITMQ_LOG_BASE": str(d / "log"),
            "RABBITMQ_LOGS": "-",
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(d / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(d / "rabbitmq"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(d / "advanced.config"),
            "RABBITMQ_CONF_ENV_FILE": str(d / "rabbitmq-env.conf"),
            "RABBITMQ_PID_FILE": str(d / "rabbit.pid"),
        }
        self.started.add("rabbitmq")
        self.peers["rabbitmq"] = self._daemon(
            "rabbitmq", ["/usr/lib/rabbitmq/bin/rabbitmq-server"], env=env
        )

    def _start_keystone(self, timeout: float) -> None:
        self.peers["keystone"] = peer = self._uwsgi(
            "keystone",
            self.ports["keystone"],
            {"OS_KEYSTONE_CONFIG_FILES": str(self.dir / "keystone.conf")},
        )
        peer.wait_ready(lambda: http_ok(self.auth_url), timeout)

    def _register_catalog(self) -> None:
        p = self.ports
        conn = self.connect()
        for name, kind, url in (
            ("placement", "placement", f"http://127.0.0.1:{p['placement']}"),
            ("glance", "image", f"http://127.0.0.1:{p['glance']}"),
            ("nova", "compute", f"http://127.0.0.1:{p['nova']}/v2.1"),
            ("neutron", "network", f"http://127.0.0.1:{p['neutron']}"),
        ):
            service = conn.identity.create_service(name=name, type=kind)
            for interface in ("public", "internal", "admin"):
                conn.identity.create_endpoint(
                    service_id=service.id, interface=interface, url=url, region_id=REGION
                )
        conn.close()

    def _start_apis(self, timeout: float) -> None:
        p = self.ports
        self.peers["placement"] = self._uwsgi(
            "placement", p["placement"], {"OS_PLACEMENT_CONFIG_DIR": str(self.dir / "placement")}
        )
        self.peers["nova-api"] = self._uwsgi(
            "nova-api",
            p["nova"],
            {
                "OS_NOVA_CONFIG_DIR": str(self.dir),
                "OS_NOVA_CONFIG_FILES": "api-paste.ini;nova.conf",
            },
        )
        self.peers["glance-api"] = self._daemon(
            "glance-api",
            [*_main("glance.cmd.api"), "--config-file", str(self.dir / "glance-api.conf")],
        )
        self.peers["neutron-server"] = self._daemon(
            "neutron-server",
            [
                *_main("neutron.cmd.eventlet.server"),
                "--config-file",
                str(self.dir / "neutron.conf"),
            ],
        )
        for name, url in (
            ("neutron-server", f"http://127.0.0.1:{p['neutron']}/"),
            ("placement", f"http://127.0.0.1:{p['placement']}/"),
            ("nova-api", f"http://127.0.0.1:{p['nova']}/"),
            ("glance-api", f"http://127.0.0.1:{p['glance']}/healthcheck"),
        ):
            self.peers[name].wait_ready(functools.partial(_http_answers, url), timeout)

    # --- what the tests create ---------------------------------------------------------
    def seed(self) -> None:
        """Flavors, an image and unlimited quotas for the admin project. `tiny` fits the
        fake hypervisor a thousand times over; `never` requires a trait no host has, so an
        instance of it is never scheduled (vm_state error, no host)."""
        conn = self.connect()
        try:
            self.flavor = conn.compute.create_flavor(name="tiny", ram=64, vcpus=1, disk=0).id
            never = conn.compute.create_flavor(name="never", ram=64, vcpus=1, disk=0)
            conn.compute.create_flavor_extra_specs(
                never, {"trait:CUSTOM_NO_HOST_HAS_IT": "required"}
            )
            self.never_flavor = never.id
            self.image = self.create_image("cirros")
            project = conn.identity.find_project(ADMIN)
            conn.set_compute_quotas(project.id, instances=-1, cores=-1, ram=-1)
        finally:
            conn.close()

    def create_image(self, name: str) -> str:
        """Uploads a 1 KiB raw image (the fake driver never reads it); returns its id."""
        conn = self.connect()
        try:
            image = conn.image.create_image(
                name=name, disk_format="raw", container_format="bare", data=b"\0" * 1024
            )
            return str(image.id)
        finally:
            conn.close()

    def delete_image(self, image_id: str) -> None:
        conn = self.connect()
        try:
            conn.image.delete_image(image_id)
        finally:
            conn.close()

    def create_server(
        self, name: str, never: bool = False, count: int = 1, image: str | None = None
    ) -> list[str]:
        """Boots `count` instances named `name` (Nova appends -1, -2, ... when count > 1);
        returns their ids once Nova has placed them or given up (ACTIVE or ERROR)."""
        conn = self.connect()
        try:
            conn.compute.create_server(
                name=name,
                flavor_id=self.never_flavor if never else self.flavor,
                image_id=image or self.image,
                networks="none",
                min_count=count,
                max_count=count,
            )
            want = "ERROR" if never else "ACTIVE"
            # Nova names the instances of a multiple create NAME-1, NAME-2, ...
            pattern = re.compile(re.escape(name) + ("" if count == 1 else "-[0-9]+"))
            found: list[Any] = []

            def placed() -> bool:
                # Nova filters by name itself: listing every instance of a large cloud each
                # poll would load the API more than the builds being waited for.
                listed = conn.compute.servers(all_projects=True, name=f"^{name}")
                found[:] = [s for s in listed if pattern.fullmatch(s.name)]
                return len(found) == count and all(s.status == want for s in found)

            # The fake driver builds about 0.4 instances a second on a busy 2-core machine,
            # fewer as the compute host fills up.
            try:
                wait_until(
                    placed,
                    60 + 6 * count,
                    f"{count} instance(s) {name} {want}",
                    interval=1 if count < 10 else 5,
                )
            except TimeoutError as error:
                statuses = Counter(str(s.status) for s in found)
                raise TimeoutError(f"{error}; Nova lists {dict(statuses)}") from error
            ids = [str(s.id) for s in found]
            return ids
        finally:
            conn.close()

    def stop_server(self, server_id: str) -> None:
        """Stops an instance through the API, as a user does (vm_state stopped)."""
        conn = self.connect()
        try:
            conn.compute.stop_server(server_id)
            wait_until(
                lambda: conn.compute.get_server(server_id).status == "SHUTOFF",
                60,
                f"instance {server_id} SHUTOFF",
                interval=0.5,
            )
        finally:
            conn.close()

    def set_image_status(self, image_id: str, active: bool) -> None:
        """Deactivates or reactivates an image (an admin action Glance offers)."""
        conn = self.connect()
        try:
            if active:
                conn.image.reactivate_image(image_id)
            else:
                conn.image.deactivate_image(image_id)
        finally:
            conn.close()

    # --- the Neutron agent -------------------------------------------------------------
    def start_agent(self) -> None:
        """Neutron's Linux bridge agent on the compute host (no physical interfaces mapped:
        it creates no bridge until a port is bound, and reports its state all the same)."""
        self.peers["neutron-linuxbridge-agent"] = self._daemon(
            "neutron-linuxbridge-agent",
            [
                *_main("neutron.cmd.eventlet.plugins.linuxbridge_neutron_agent"),
                "--config-file",
                str(self.dir / "neutron.conf"),
            ],
        )

    def stop_agent(self) -> None:
        _stop_group(self.peers["neutron-linuxbridge-agent"])

    def agent(self) -> Any:
        conn = self.connect()
        try:
            for agent in conn.network.agents():
                if agent.host == COMPUTE_HOST and agent.binary == "neutron-linuxbridge-agent":
                    return agent
            return None
        finally:
            conn.close()

    def wait_agent(self, alive: bool, timeout: float = 60) -> None:
        def reached() -> bool:
            agent = self.agent()
            return agent is not None and bool(agent.is_alive) == alive

        wait_until(reached, timeout, f"linux bridge agent alive={alive}", interval=0.5)

    # --- nova-compute ------------------------------------------------------------------
    def start_compute(self) -> None:
        self.peers["nova-compute"] = self._daemon(
            "nova-compute",
            [
                *_main("nova.cmd.compute"),
                *self._nova_args(),
                "--config-file",
                str(self.compute_conf),
            ],
        )

    def add_compute(self, host: str, timeout: float = 120) -> None:
        """Another compute host on this machine: nova-compute with the fake driver again,
        its own service and resource provider, as a cloud of many hosts has. Nova spreads
        instances over them, and each host's resource tracker then reads only its own
        instances' allocations from Placement on every build (all of them, each time)."""
        conf = self.dir / f"nova-compute-{host}.conf"
        conf.write_text(f"[DEFAULT]\nhost = {host}\n")
        peer = self._daemon(
            f"nova-compute-{host}",
            [
                *_main("nova.cmd.compute"),
                *self._nova_args(),
                "--config-file",
                str(self.compute_conf),
                "--config-file",
                str(conf),
            ],
        )
        self.peers[f"nova-compute-{host}"] = peer

        def ready() -> bool:
            conn = self.connect()
            try:
                up = any(
                    s.binary == "nova-compute" and s.host == host and s.state == "up"
                    for s in conn.compute.services()
                )
                names = {h.name for h in conn.compute.hypervisors()}
                providers = {p.name for p in conn.placement.resource_providers()}
                # The fake driver names its node after the host.
                return up and host in names and host in providers
            finally:
                conn.close()

        peer.wait_ready(ready, timeout)

    def stop_compute(self) -> None:
        """Stops nova-compute (SIGTERM, as `systemctl stop` does)."""
        _stop_group(self.peers["nova-compute"])

    def restart_compute(self, timeout: float = 120) -> None:
        """A host boot as Nova sees it: nova-compute starts with no instances in its
        hypervisor (the fake driver keeps them in memory only)."""
        self.stop_compute()
        self.start_compute()
        self.wait_compute_up(timeout)

    def wait_compute_down(self, timeout: float = 60) -> None:
        """Nova counts nova-compute down (no report within service_down_time)."""

        def down() -> bool:
            service = self.compute_service()
            return service is not None and service.state == "down"

        wait_until(down, timeout, "nova-compute reported down", interval=0.5)

    def server(self, server_id: str) -> Any:
        conn = self.connect()
        try:
            return conn.compute.get_server(server_id)
        finally:
            conn.close()

    def compute_service(self) -> Any:
        conn = self.connect()
        try:
            for service in conn.compute.services():
                if service.binary == "nova-compute" and service.host == COMPUTE_HOST:
                    return service
            return None
        finally:
            conn.close()

    def wait_compute_up(self, timeout: float = 120) -> None:
        """nova-compute reports up and its resource provider is in Placement and mapped
        to the cell (so the scheduler can place instances on it)."""
        peer = self.peers["nova-compute"]

        def ready() -> bool:
            service = self.compute_service()
            if service is None or service.state != "up":
                return False
            conn = self.connect()
            try:
                hypervisors = list(conn.compute.hypervisors())
                providers = list(conn.placement.resource_providers())
                return bool(hypervisors) and bool(providers)
            finally:
                conn.close()

        peer.wait_ready(ready, timeout)


def _stop_group(peer: Peer, timeout: float = 30) -> None:
    """Stops a peer and whatever it spawned in its session (RabbitMQ's Erlang VM is a
    child of its start script; the agent's privsep daemons are children of the agent)."""
    peer.stop(timeout)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(peer.proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            os.killpg(peer.proc.pid, 0)
            time.sleep(0.1)
        os.killpg(peer.proc.pid, signal.SIGKILL)


def _http_answers(url: str) -> bool:
    """Any HTTP answer (a 401 or 300 is an answer: the service is up)."""
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True
