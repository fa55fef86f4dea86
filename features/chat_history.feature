@session
Feature: Conversations are remembered
  Every answer is stored in a chat, and the assistant tells me which one. When I send the chat's id
  back, my next question continues the same chat, on the same connection or a new one, and even
  after the assistant restarts. A chat the assistant does not know is reported to me, and my
  question is still answered.

  @same_chat
  Scenario: Later questions continue the chat the first answer opened
    Given I am connected to the assistant
    When I ask a question
    Then the answer tells me the id of the chat it was stored in
    When I ask another question in the same chat
    Then it is stored in the same chat

  @new_connection
  Scenario: A chat continues on a new connection
    Given I have a chat with one answer in it
    When I reconnect and ask another question in that chat
    Then it is stored in the same chat

  @unknown_chat
  Scenario: An unknown chat is reported, and the answer still comes
    Given I am connected to the assistant
    When I ask a question in a chat that does not exist
    Then the assistant says it could not find that chat
    And the answer is complete and not empty

  @requires_restart
  Scenario: Chats survive a restart of the assistant
    Given I have a chat with one answer in it
    When the assistant restarts
    And I reconnect and ask another question in that chat
    Then it is stored in the same chat
