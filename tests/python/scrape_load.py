#!/usr/bin/env python3
"""Scrapes the exporter from many threads until stdin closes, checking every scrape.

    scrape_load.py URL CLIENTS KEY...

Each scrape of URL must say that every KEY (and nothing else) is healthy. On end of stdin, prints
one JSON line: {"scrapes": N, "problems": [...]}, the problems cut to the first 20. A separate
process, so that the scrapers do not take the interpreter lock from the writers under test.
"""

import json
import re
import sys
import threading
import urllib.request

HTTP_TIMEOUT = 10
MAX_PROBLEMS = 20
_STATE = re.compile(r'^heartbeat_state\{process="([^"]*)",state="([a-z_]+)"\} 1$', re.MULTILINE)
# Loopback only: a proxy from the environment must never see these requests.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def scrape(url):
    """The text of one scrape; raises OSError when there is no answer."""
    with _opener.open(url, timeout=HTTP_TIMEOUT) as response:
        if response.status != 200:
            raise OSError(f"HTTP {response.status}")
        return response.read().decode("utf-8")


def states(metrics):
    """{process: state} from the heartbeat_state series that are 1."""
    return dict(_STATE.findall(metrics))


def main():
    url, clients, keys = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    expected = {key: "healthy" for key in keys}
    done = threading.Event()
    lock = threading.Lock()
    scrapes = [0]
    problems = []

    def scrape_until_done():
        while not done.is_set():
            try:
                seen = states(scrape(url))
                problem = None if seen == expected else f"scrape saw {seen}"
            except OSError as error:
                problem = f"scrape failed: {error}"
            with lock:
                scrapes[0] += 1
                if problem is not None:
                    problems.append(problem)

    threads = [threading.Thread(target=scrape_until_done) for _ in range(clients)]
    for thread in threads:
        thread.start()
    sys.stdin.read()
    done.set()
    for thread in threads:
        thread.join()
    print(json.dumps({"scrapes": scrapes[0], "problem_count": len(problems),
                      "problems": problems[:MAX_PROBLEMS]}))


if __name__ == "__main__":
    main()
