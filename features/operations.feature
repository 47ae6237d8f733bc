@p6 @mrr:5k @area:platform @owner:platform-team
Feature: Operations
  On-call engineers, deploy pipelines and load balancers read the backend's own account of
  itself: which build runs, whether it is ready for traffic, where its services are, and how
  each dependency is doing. When it is wrong, deploys and incidents are flown blind.

  Scenario: The backend names the build it runs
    When the release gate asks the backend which build it runs
    Then the backend names its version

  Scenario: The backend says it is ready for traffic
    When the release gate asks the backend whether it is ready
    Then the backend answers that it is ready

  Scenario: Service discovery says where the platform's services are
    When the release gate asks where the platform's services are
    Then the backend and auth services are listed with their addresses

  Scenario: The detailed health names each dependency with its status
    When the release gate checks the backend's detailed health
    Then every dependency is named with its status
