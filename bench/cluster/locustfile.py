"""The cluster run's mixed load (Locust, headless), through HAProxy's API frontend.

By request: clicks and public reads 70%, creates 10%, registrations 8%, conversions and
orders 10% (consultation events one at a time, orders in batches of five), dashboards 2%.
Each code is registered once and each referee converted once, so every accepted event
can be checked afterwards against the database. Requests are named by kind, so Locust's
statistics are per kind; a failure is named by its status, so errors count by status.

Inputs (files under CLUSTER_DATA, one value a line): codes.txt (codes to click and read),
register_codes.txt (pending codes, each registered once), registered.txt (registered,
unconverted referees), tokens.txt (patient tokens); env SERVICE_TOKEN, ADMIN_TOKEN,
PROGRAM_ID. Output: CLUSTER_OUT/requests.json (time, kind, status of every write) and
CLUSTER_OUT/events.json (every accepted event and what it did).
"""

import collections
import itertools
import json
import os
import random
import time
import uuid

from locust import FastHttpUser, between, events, task

DATA = os.environ["CLUSTER_DATA"]
OUT = os.environ["CLUSTER_OUT"]


def lines(name):
    with open(os.path.join(DATA, name)) as f:
        return [line.strip() for line in f if line.strip()]


CODES = lines("codes.txt")
TO_REGISTER = collections.deque(lines("register_codes.txt"))
TO_CONVERT = collections.deque(lines("registered.txt"))
TOKENS = lines("tokens.txt")
SERVICE = {"Authorization": "Bearer " + os.environ["SERVICE_TOKEN"]}
ADMIN = {"Authorization": "Bearer " + os.environ["ADMIN_TOKEN"]}
PROGRAM = os.environ["PROGRAM_ID"]
WRITES = []
ACCEPTED = []
SEQ = itertools.count()


def judged(response, kind, ok=(200, 201, 202), status=None):
    """Marks the response, logs a write's status (`status` when the body says more than
    the code), and says whether it was accepted."""
    status = response.status_code if status is None else status
    if kind not in ("click", "public_read", "dashboard"):
        # When the request was sent, not answered: a write that was in flight on the old
        # primary when it died and answered later is not the first write after it.
        meta = getattr(response, "request_meta", None) or {}
        sent = meta.get("start_time") or time.time() - meta.get("response_time", 0) / 1000
        WRITES.append((sent, kind, status))
    if status in ok:
        response.success()
        return True
    response.failure(f"status {status}")
    return False


class Platform(FastHttpUser):
    wait_time = between(0.0, 0.02)

    @task(50)
    def click(self):
        with self.client.get(
            f"/api/referrals/{random.choice(CODES)}/click", name="click", catch_response=True
        ) as r:
            judged(r, "click", ok=(200, 204, 302))

    @task(20)
    def public_read(self):
        with self.client.get(
            f"/api/referrals/{random.choice(CODES)}", name="public_read", catch_response=True
        ) as r:
            judged(r, "public_read")

    @task(10)
    def create(self):
        body = {
            "referee_email": f"cluster-{uuid.uuid4().hex}@cluster.example.com",
            "referral_source": "direct_link",
            "program_id": PROGRAM,
        }
        headers = {"Authorization": "Bearer " + random.choice(TOKENS)}
        with self.client.post(
            "/api/patients/me/referrals", json=body, headers=headers, name="create",
            catch_response=True,
        ) as r:
            judged(r, "create")

    @task(8)
    def register(self):
        if not TO_REGISTER:
            return
        code = TO_REGISTER.popleft()
        body = {"email": f"reg-{code.lower()}-{next(SEQ)}@cluster.example.com"}
        with self.client.post(
            f"/api/referrals/{code}/register", json=body, headers=SERVICE, name="register",
            catch_response=True,
        ) as r:
            if judged(r, "register"):
                try:
                    TO_CONVERT.append(r.json()["patient_id"])
                except (ValueError, KeyError, TypeError):
                    pass

    @task(6)
    def consultation(self):
        if not TO_CONVERT:
            return
        patient = TO_CONVERT.popleft()
        event = {"patient_id": patient, "consultation_id": str(uuid.uuid4())}
        with self.client.post(
            "/api/events/consultations", json=event, headers=SERVICE, name="consultation",
            catch_response=True,
        ) as r:
            if judged(r, "consultation"):
                ACCEPTED.append({"kind": "consultation", "event_id": event["consultation_id"],
                                 "patient_id": patient, "result": r.json()})

    @task(4)
    def orders(self):
        batch = [TO_CONVERT.popleft() for _ in range(min(5, len(TO_CONVERT)))]
        if not batch:
            return
        sent = [{"type": "order", "patient_id": p, "order_id": str(uuid.uuid4()),
                 "amount": "80.00"} for p in batch]
        with self.client.post(
            "/api/events/batch", json={"events": sent}, headers=SERVICE, name="order_batch",
            catch_response=True,
        ) as r:
            # A batch answers 200 with each event's result; one whose events all found no
            # database (its lanes got no connection during the failover) is a refused write.
            status = r.status_code
            results = r.json().get("results", []) if status == 200 else []
            if results and all(x["result"] == "unavailable" for x in results):
                status = 503
            if judged(r, "order_batch", status=status):
                for result in results:
                    event = sent[result["index"]]
                    ACCEPTED.append({"kind": "order", "event_id": event["order_id"],
                                     "patient_id": event["patient_id"], "result": result})

    @task(2)
    def dashboard(self):
        with self.client.get(
            "/api/referrals/analytics", headers=ADMIN, name="dashboard", catch_response=True
        ) as r:
            judged(r, "dashboard")


@events.quitting.add_listener
def write_logs(environment, **_):
    with open(os.path.join(OUT, "requests.json"), "w") as f:
        json.dump(WRITES, f)
    with open(os.path.join(OUT, "events.json"), "w") as f:
        json.dump(ACCEPTED, f)
