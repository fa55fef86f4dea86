@tools
Feature: The assistant uses tools
  In agent mode the assistant can call tools, such as a web search or the image generator.
  The customer sees each tool start, then its result when the tool reports one, and the
  answer still completes. Which question makes the assistant use which tool is the backend's
  choice: the run's settings name the question and the tool (README, Settings).

  Background:
    Given I am connected to the chat backend

  @tool_call
  Scenario: The assistant calls its tool and the answer completes
    When I ask the assistant, in agent mode, a question that needs its tool
    Then the assistant calls the tool
    And the tool results match their calls
    And the tool events arrive in the right order

  @image
  Scenario: The assistant makes a picture with the image tool
    When I ask the assistant, in agent mode, a question that needs its tool
    Then the assistant calls the tool
    And the picture it made is a real image
