"""The Python SMART client (PyPI ``fhirclient``) completes a standalone launch against the facade.

The test plays the browser: it opens fhirclient's authorize URL, fills the
facade's login and consent forms over HTTP, and hands the redirect back to
fhirclient, which exchanges the code (PKCE S256) and reads the patient.
"""

from __future__ import annotations

from urllib.parse import urlencode

import httpx
from fhirclient import client

from tests.auth.smart_support import DONNA, PUBLIC, REDIRECT, session_of

SCOPE = "launch/patient openid fhirUser offline_access patient/*.read"


def test_fhirclient_standalone_launch_reads_the_patient(smart_url: str, http: httpx.Client) -> None:
    smart = client.FHIRClient(
        settings={
            "app_id": PUBLIC,
            "api_base": f"{smart_url}/fhir/r4",
            "redirect_uri": REDIRECT,
            "scope": SCOPE,
        }
    )
    authorize_url = smart.authorize_url
    assert authorize_url.startswith(f"{smart_url}/auth/authorize")
    login_page = http.get(authorize_url)
    assert login_page.status_code == 200, login_page.text
    consent = http.post(
        f"{smart_url}/auth/login",
        data={
            "session": session_of(login_page.text),
            "username": "patient.demo",
            "password": "demo-password",
        },
    )
    assert 'action="/auth/consent"' in consent.text
    form = [("session", session_of(consent.text)), ("decision", "allow")]
    form += [("scope", "patient/*.read"), ("scope", "offline_access")]
    done = http.post(
        f"{smart_url}/auth/consent",
        content=urlencode(form),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert done.status_code == 303
    smart.handle_callback(done.headers["location"])
    assert smart.ready
    assert smart.patient_id == DONNA
    patient = smart.patient
    assert patient is not None and patient.id == DONNA
    assert patient.name[0].family == "Sandboxtest"
    assert smart.human_name(patient.name[0]).startswith("Donna")
