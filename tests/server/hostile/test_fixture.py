"""The hostile fixture itself: a server that is up and a victim that reads back."""


def test_the_server_under_attack_is_up_and_the_victim_reads_back(server):
    with server.http(server.attacker) as http:
        assert http.get("/v1/datasets").status_code == 200
    server.assert_alive()
    server.assert_victim_unchanged()
