"""GET /docs: interactive API documentation (Swagger UI) served by the service itself.

The Swagger UI files come from the `swagger-ui-py` package (found without importing it), so the
page works with no access to the internet. The page and its assets hold no data and are the same
for every deployment, so they load without the API key; the page asks for the key and sends it
with every call, /openapi.json included.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from string import Template

from flask import Blueprint, Response, abort, send_from_directory

from api.endpoints import API_KEY_HEADER, Endpoint
from api.meta import OPENAPI

blueprint = Blueprint("docs", __name__)
STATIC = "/docs/static"
"""Where the page's Swagger UI files are served."""
ASSETS = frozenset(
    {"swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png", "favicon-16x16.png"}
)
"""The only files of the bundle the page uses."""


def swagger_ui_dir() -> Path:
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the swagger-ui-py package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


PAGE = Template("""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>D7 revenue prediction API</title>
  <link rel="stylesheet" href="$static/swagger-ui.css">
  <link rel="icon" type="image/png" href="$static/favicon-32x32.png" sizes="32x32">
  <style>
    #key-bar { font-family: sans-serif; padding: 8px 16px; background: #f4f4f4; }
    #key-bar input { width: 20em; }
  </style>
</head>
<body>
  <form id="key-bar">
    <label>API key ($header, when the service requires one):
      <input id="api-key" type="password" autocomplete="off"></label>
    <button type="submit">Use key</button> <span id="key-state"></span>
  </form>
  <div id="swagger-ui"></div>
  <script src="$static/swagger-ui-bundle.js"></script>
  <script>
    const storageKey = "d7-api-key";
    function apiKey() { return sessionStorage.getItem(storageKey) || ""; }
    function render() {
      document.getElementById("key-state").textContent = apiKey() ? "key set" : "no key";
      window.ui = SwaggerUIBundle({
        url: "$openapi",
        dom_id: "#swagger-ui",
        deepLinking: true,
        displayRequestDuration: true,
        requestInterceptor: (req) => {
          if (apiKey()) { req.headers["$header"] = apiKey(); }
          return req;
        },
      });
    }
    document.getElementById("key-bar").addEventListener("submit", (event) => {
      event.preventDefault();
      sessionStorage.setItem(storageKey, document.getElementById("api-key").value);
      render();
    });
    render();
  </script>
</body>
</html>
""").substitute(static=STATIC, openapi=OPENAPI.rule, header=API_KEY_HEADER)
"""The page, with the paths and the key header of the endpoints it uses."""


PAGE_ENDPOINT = Endpoint(method="GET", rule="/docs", public=True, documented=False)
ASSET_ENDPOINT = Endpoint(method="GET", rule=f"{STATIC}/<path:name>", public=True, documented=False)


@PAGE_ENDPOINT.route(blueprint)
def page():
    return Response(PAGE, mimetype="text/html")


@ASSET_ENDPOINT.route(blueprint)
def asset(name: str):
    if name not in ASSETS:
        abort(404)
    return send_from_directory(swagger_ui_dir(), name, max_age=86400)
