import subprocess
import sys

import edgeportal_client


def test_public_names_are_exported():
    for name in edgeportal_client.__all__:
        assert getattr(edgeportal_client, name) is not None


def test_importing_the_histogram_does_not_load_requests_or_django():
    # the server imports the histogram on its hot path; the HTTP client must stay out of it
    probe = "import sys, edgeportal_client.histogram; print(sorted({'requests', 'django'} & set(sys.modules)))"
    output = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "[]"
