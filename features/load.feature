@p4 @load @mrr:30k @area:performance @owner:platform-reliability
Feature: The platform under load
  A launch, a campaign or the start of the working day brings many users at once. Each of
  them must still be let in quickly, keep a live session open, and see an agent run finish
  in time; a platform that is only fast when it is quiet loses the customers it just won.
  The release gate plays these users; a rehearsal with fewer of them, for less time, can come first.

  Scenario Outline: <users> signed-in users hold live sessions at the same time
    Given <users> signed-in users arriving at <rate> per second
    When they hold live sessions for <seconds> seconds
    Then no session is dropped
    And 95 in every 100 users are welcomed in under <welcome>

    Examples:
      | users | rate | seconds | welcome  |
      | 200   | 50   | 60      | 1 second |

  Scenario Outline: <users> signed-in users run agents at the same time
    Given <users> signed-in users arriving at <rate> per second
    When they run agents for <seconds> seconds
    Then 95 in every 100 agent runs finish in under <budget>
    And no agent run fails

    Examples:
      | users | rate | seconds | budget     |
      | 200   | 50   | 120     | 10 seconds |
