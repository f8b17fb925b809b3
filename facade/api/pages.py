"""Server-rendered HTML for the authorize flow: login, patient picker, consent, errors, EHR launcher.

Plain HTML forms that work without JavaScript: every input has a label,
errors are announced (``role="alert"``) and tied to their field
(``aria-describedby``), the first field has focus, and everything is reachable
by keyboard in reading order. Every value is HTML-escaped.
"""

from __future__ import annotations

from html import escape

from facade.auth.scopes import Scope, ScopeSet
from facade.auth.server import OPTIONAL_OTHER

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#f4f6f8;color:#1b1f24}
main{max-width:34rem;margin:3rem auto;background:#fff;padding:2rem;border-radius:8px;
box-shadow:0 1px 4px rgba(0,0,0,.15)}
h1{font-size:1.4rem;margin-top:0}label{display:block;font-weight:600;margin:.8rem 0 .3rem}
input[type=text],input[type=password],input[type=url],input[type=search]{width:100%;padding:.55rem;
font-size:1rem;border:1px solid #6b7280;border-radius:4px;box-sizing:border-box}
button{margin-top:1.2rem;padding:.6rem 1.2rem;font-size:1rem;border-radius:4px;border:1px solid #1d4ed8;
background:#1d4ed8;color:#fff;cursor:pointer}button.secondary{background:#fff;color:#1d4ed8}
:focus-visible{outline:3px solid #f59e0b;outline-offset:2px}
.error{background:#fee2e2;border:1px solid #b91c1c;color:#7f1d1d;padding:.7rem;border-radius:4px}
.hint{color:#4b5563;font-size:.9rem}fieldset{border:1px solid #d1d5db;border-radius:4px;margin:1rem 0}
.choice{display:flex;gap:.6rem;align-items:flex-start;margin:.5rem 0}.choice label{margin:0;font-weight:400}
.app{font-weight:700}
"""


def page(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)} · athena FHIR facade</title><style>{_CSS}</style></head>"
        f"<body><main>{body}</main></body></html>"
    )


def error_page(title: str, message: str) -> str:
    return page(
        title,
        f'<h1>{escape(title)}</h1><p class="error" role="alert">{escape(message)}</p>'
        '<p class="hint">Nothing was shared with the application.</p>',
    )


def _error(message: str | None, field_id: str) -> str:
    if not message:
        return ""
    return f'<p class="error" role="alert" id="{field_id}-error">{escape(message)}</p>'


def login_page(session: str, app_name: str, *, error: str | None = None, username: str = "") -> str:
    described = ' aria-describedby="login-error" aria-invalid="true"' if error else ""
    return page(
        "Sign in",
        f'<h1>Sign in</h1><p><span class="app">{escape(app_name)}</span> wants to access '
        "health records on this FHIR server.</p>"
        f"{_error(error, 'login')}"
        '<form method="post" action="/auth/login">'
        f'<input type="hidden" name="session" value="{escape(session)}">'
        '<label for="username">Username</label>'
        f'<input type="text" id="username" name="username" autocomplete="username" required '
        f'autofocus value="{escape(username)}"{described}>'
        '<label for="password">Password</label>'
        f'<input type="password" id="password" name="password" autocomplete="current-password" '
        f"required{described}>"
        '<button type="submit">Sign in</button></form>',
    )


def picker_page(
    session: str,
    patients: list[tuple[str, str]],
    *,
    query: str,
    error: str | None = None,
) -> str:
    """Patient picker for user launches: a search box and one radio button per patient."""
    options = "".join(
        '<div class="choice">'
        f'<input type="radio" name="patient" id="p{i}" value="{escape(pid)}"{" checked" if i == 0 else ""}>'
        f'<label for="p{i}">{escape(label)} <span class="hint">({escape(pid)})</span></label></div>'
        for i, (pid, label) in enumerate(patients)
    )
    if not patients:
        options = '<p class="hint">No patients match; search again.</p>'
    return page(
        "Choose a patient",
        "<h1>Choose a patient</h1>"
        f"{_error(error, 'picker')}"
        '<form method="post" action="/auth/patient">'
        f'<input type="hidden" name="session" value="{escape(session)}">'
        '<label for="q">Search by name</label>'
        f'<input type="search" id="q" name="q" value="{escape(query)}">'
        '<button type="submit" name="action" value="search" class="secondary">Search</button>'
        f"<fieldset><legend>Patients</legend>{options}</fieldset>"
        '<button type="submit" name="action" value="select">Continue with this patient</button>'
        "</form>",
    )


_ACTIONS = {"c": "create", "r": "read", "u": "update", "d": "delete", "s": "search"}
_OTHER = {
    "openid": "Confirm your identity to the application (sign-in)",
    "fhirUser": "Tell the application who you are (your FHIR user record)",
    "profile": "Share your basic profile",
    "launch": "Open in the context of the current patient and encounter",
    "launch/patient": "Know which patient is selected",
    "launch/encounter": "Know which encounter is selected",
    "offline_access": "Keep access while you are not using the application (offline access)",
    "online_access": "Keep access while you are signed in",
}


def describe_scope(scope: Scope) -> str:
    """Plain words for a SMART scope, e.g. ``patient/Patient.rs`` -> "Read and search ..."."""
    actions = [_ACTIONS[letter] for letter in "cruds" if letter in scope.permissions]
    verb = " and ".join([", ".join(actions[:-1]), actions[-1]] if len(actions) > 1 else actions)
    what = "all record types" if scope.resource_type == "*" else f"{scope.resource_type} records"
    whose = {
        "patient": "of the selected patient only",
        "user": "that you are allowed to see",
        "system": "of every patient",
    }[scope.context]
    text = f"{verb.capitalize()} {what} {whose}"
    if scope.query:
        text += " where " + " and ".join(f"{k} is {v}" for k, v in scope.query)
    return text


def consent_page(
    session: str, app_name: str, scopes: ScopeSet, *, user: str, patient: str | None
) -> str:
    items: list[str] = []
    for i, scope in enumerate(scopes.scopes):
        items.append(
            '<div class="choice">'
            f'<input type="checkbox" name="scope" id="s{i}" value="{escape(scope.text)}" checked>'
            f'<label for="s{i}">{escape(describe_scope(scope))} '
            f'<span class="hint">({escape(scope.text)})</span></label></div>'
        )
    for j, other in enumerate(scopes.other):
        words = escape(_OTHER.get(other, other))
        if other in OPTIONAL_OTHER:
            items.append(
                '<div class="choice">'
                f'<input type="checkbox" name="scope" id="o{j}" value="{escape(other)}" checked>'
                f'<label for="o{j}">{words} <span class="hint">({escape(other)})</span></label></div>'
            )
        else:
            items.append(
                f'<div class="choice"><span aria-hidden="true">•</span><span>{words} '
                f'<span class="hint">({escape(other)}, required)</span></span></div>'
            )
    who = f"<p>Patient: <strong>{escape(patient)}</strong></p>" if patient else ""
    return page(
        "Allow access",
        f'<h1>Allow <span class="app">{escape(app_name)}</span> to access your data?</h1>'
        f"<p>Signed in as <strong>{escape(user)}</strong>.</p>{who}"
        '<form method="post" action="/auth/consent">'
        f'<input type="hidden" name="session" value="{escape(session)}">'
        "<fieldset><legend>The application asks to</legend>"
        '<p class="hint">Untick anything you do not want to share.</p>'
        f"{''.join(items)}</fieldset>"
        '<button type="submit" name="decision" value="allow">Allow</button> '
        '<button type="submit" name="decision" value="deny" class="secondary">Deny</button>'
        "</form>",
    )


def launcher_page(*, error: str | None = None) -> str:
    """The EHR launch simulator: creates a launch value and opens the app's launch URL."""
    return page(
        "EHR launch",
        "<h1>Launch an app (EHR launch)</h1>"
        f"{_error(error, 'launch')}"
        '<form method="post" action="/auth/launch">'
        '<label for="launch_url">App launch URL</label>'
        '<p class="hint" id="launch_url-hint">A launch URL registered for an application '
        "(athena-facade clients add --launch-url).</p>"
        '<input type="url" id="launch_url" name="launch_url" required autofocus '
        'aria-describedby="launch_url-hint">'
        '<label for="patient">Patient id</label>'
        '<input type="text" id="patient" name="patient" value="a-195900.E-60178" required>'
        '<label for="encounter">Encounter id (optional)</label>'
        '<input type="text" id="encounter" name="encounter">'
        '<button type="submit">Launch</button></form>',
    )
