"""Replay a cassette to the real Python SDK: the journal of the suite's own run, saved as a
cassette (`/_emulator/journal?format=cassette`), is served by `entitlement-emulator replay`, and
msgraph-sdk reads the recorded answers through it; an unrecorded call surfaces the replay's 501.

Usage: REPLAY_URL=http://127.0.0.1:PORT python python_replay.py
"""

import asyncio
import os
import sys

from kiota_abstractions.authentication import (AccessTokenProvider, AllowedHostsValidator,
                                               BaseBearerTokenAuthenticationProvider)

BASE = os.environ["REPLAY_URL"].rstrip("/")


class NoToken(AccessTokenProvider):
    async def get_authorization_token(self, uri, additional_authentication_context=None):
        return "replayed"

    def get_allowed_hosts_validator(self):
        return AllowedHostsValidator([])


async def main():
    import msgraph
    from kiota_abstractions.api_error import APIError
    adapter = msgraph.GraphRequestAdapter(BaseBearerTokenAuthenticationProvider(NoToken()))
    adapter.base_url = f"{BASE}/v1.0"
    em = msgraph.GraphServiceClient(request_adapter=adapter).identity_governance.entitlement_management
    failures = 0
    catalogs = await em.catalogs.get()
    if catalogs and any(c.display_name == "General" for c in catalogs.value):
        print("ok   the recorded catalog list replays through msgraph-sdk")
    else:
        failures += 1
        print(f"FAIL replayed catalogs: {catalogs}")
    try:
        await em.catalogs.by_access_package_catalog_id("00000000-0000-4000-8000-0000000000ff").delete()
        failures += 1
        print("FAIL an unrecorded call was answered")
    except APIError as err:
        code = getattr(getattr(err, "error", None), "code", None)
        message = getattr(getattr(err, "error", None), "message", "") or ""
        if err.response_status_code == 501 and code == "NotImplemented" and "closest recorded request" in message:
            print("ok   an unrecorded call surfaces the replay's 501 NotImplemented")
        else:
            failures += 1
            print(f"FAIL unrecorded call: {err.response_status_code} {code} {message}")
    print(f"{2 - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
