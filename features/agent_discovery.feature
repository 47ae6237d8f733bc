@p1 @mrr:120k @area:agents @owner:agents-team
Feature: Agent discovery
  Users choose the AI agents they work with from the platform's registry of agent servers.
  When discovery fails, users can still connect and chat, but cannot find or run any agent:
  the core value of the platform is blocked.

  Scenario: A user discovers the available agent servers
    Given a signed-in user
    When the user asks which agent servers are available
    Then at least one agent server is listed
    And every agent server is named with its status
