"""Which device a user's session runs on, kept in its metadata (``track_devices=True``): ``a``
the user agent, ``i`` the client address (coarse by default; ``X-Forwarded-For`` read only from
``trusted_proxies``), ``t`` the last use. See "Your active sessions" in docs/operations.md."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any, Literal

from starlette_session.durations import Duration, seconds
from starlette_session.state import SessionState

__all__ = ["CLIENT", "LAST_USED", "USER_AGENT", "ClientAddress", "DeviceTracking"]

#: Metadata keys.
USER_AGENT, CLIENT, LAST_USED = "a", "i", "t"
ClientAddress = Literal["none", "prefix", "full"]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class DeviceTracking:
    """What ``SessionStore(track_devices=...)`` records about the device of each user session.

    Args:
        client_address: ``"prefix"`` (the /24 of IPv4, the /48 of IPv6), ``"full"`` or ``"none"``.
        trusted_proxies: networks of the reverse proxies in front of the app; only from them is
            ``X-Forwarded-For`` read (the address is its last hop not in these networks).
        last_used_interval: how stale the last-use stamp may grow before a request that only
            reads the session writes it again.
        user_agent_length: how many characters of the ``User-Agent`` header are kept.
    """

    def __init__(
        self,
        *,
        client_address: ClientAddress = "prefix",
        trusted_proxies: Iterable[str] = (),
        last_used_interval: Duration = 300,
        user_agent_length: int = 200,
    ) -> None:
        if client_address not in ("none", "prefix", "full"):
            raise ValueError("client_address must be 'none', 'prefix' or 'full'")
        if isinstance(trusted_proxies, str):
            raise TypeError("trusted_proxies is a list of networks: trusted_proxies=['10.0.0.0/8']")
        if user_agent_length < 0:
            raise ValueError("user_agent_length must be 0 or more")
        self.client_address = client_address
        self.trusted_proxies = tuple(
            ipaddress.ip_network(network, strict=False) for network in trusted_proxies
        )
        self.last_used_interval = seconds(last_used_interval, name="last_used_interval")
        self.user_agent_length = user_agent_length

    def track(self, state: SessionState, scope: Mapping[str, Any] | None, now: int) -> None:
        """At commit: stamp a user's session that is new, gets a new id, or was last stamped
        ``last_used_interval`` ago (marking it changed); forget the device once signed out."""
        if state.destroyed or state.degraded or state.ended or scope is None:
            return
        meta = state.meta
        if state.user is None:
            if LAST_USED in meta:
                for key in (USER_AGENT, CLIENT, LAST_USED):
                    meta.pop(key, None)
                state.mark_changed()
            return
        last_used = meta.get(LAST_USED)
        fresh = isinstance(last_used, int) and now - last_used < self.last_used_interval
        if fresh and not (state.is_new or state.rotate):
            return
        self.stamp(meta, scope, now)
        state.mark_changed()

    def stamp(self, meta: MutableMapping[str, Any], scope: Mapping[str, Any], now: int) -> None:
        """Write the device of ``scope`` and the time ``now`` into ``meta``."""
        meta[LAST_USED] = now
        for key, value in ((USER_AGENT, self.user_agent(scope)), (CLIENT, self.client(scope))):
            if value is None:
                meta.pop(key, None)
            else:
                meta[key] = value

    def user_agent(self, scope: Mapping[str, Any]) -> str | None:
        """The connection's ``User-Agent``, truncated; None without one."""
        for name, value in scope.get("headers", ()):
            if name == b"user-agent":
                return value.decode("latin-1").strip()[: self.user_agent_length] or None
        return None

    def client(self, scope: Mapping[str, Any]) -> str | None:
        """The client's address as configured: a network, the address, or None."""
        address = self._client_ip(scope) if self.client_address != "none" else None
        if address is None:
            return None
        if self.client_address == "full":
            return str(address)
        prefix = 24 if address.version == 4 else 48
        return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))

    def _client_ip(self, scope: Mapping[str, Any]) -> IPAddress | None:
        """The peer, or behind trusted proxies the last untrusted hop."""
        client = scope.get("client")
        address = _address(client[0]) if client else None
        if address is None or not self._trusted(address):
            return address
        forwarded = b",".join(
            value for name, value in scope.get("headers", ()) if name == b"x-forwarded-for"
        )
        for hop in reversed(forwarded.decode("latin-1").split(",") if forwarded else []):
            hop_address = _address(hop)
            if hop_address is None:
                break  # garbage in the header: keep the last address we could trust
            address = hop_address
            if not self._trusted(address):
                break
        return address

    def _trusted(self, address: IPAddress) -> bool:
        return any(address in network for network in self.trusted_proxies)

    def __repr__(self) -> str:
        return (
            f"DeviceTracking(client_address={self.client_address!r}, "
            f"trusted_proxies={[str(network) for network in self.trusted_proxies]!r}, "
            f"last_used_interval={self.last_used_interval})"
        )


def _address(text: str) -> IPAddress | None:
    """An address from a peer or a ``X-Forwarded-For`` hop (ports and brackets removed)."""
    text = text.strip()
    if text.startswith("["):  # [2001:db8::1]:443
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:  # 203.0.113.7:5555
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address
