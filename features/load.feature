@p4 @load @mrr:30k @area:performance @owner:platform-reliability
Feature: The platform under load
  A launch, a campaign or the start of the working day brings many users at once. Each of
  them must still be let in quickly, keep a live session open, and see an agent run finish
  in time; a platform that is only fast when it is quiet loses the customers it just won.
  Locust plays the users; `-D load_scale=0.1` runs a tenth of them for a tenth of the time.

  Scenario Outline: <users> signed-in users hold live sessions at the same time
    Given <users> signed-in users arriving at <rate> per second
    When they hold live sessions for <seconds> seconds
    Then no session is dropped
    And the p95 of welcome time is under <welcome> second

    Examples:
      | users | rate | seconds | welcome |
      | 200   | 50   | 60      | 1       |

  Scenario Outline: <users> signed-in users run agents at the same time
    Given <users> signed-in users arriving at <rate> per second
    When they run agents for <seconds> seconds
    Then the p95 of an agent run is under <budget> seconds
    And no agent run fails

    Examples:
      | users | rate | seconds | budget |
      | 200   | 50   | 120     | 10     |
